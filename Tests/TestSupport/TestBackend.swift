import Foundation

/// The stores a suite runs against: each test that takes a `TestBackend` runs once per backend.
public enum TestBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    public var description: String { rawValue }

    /// A new, empty store's `--db` value: a file in `dir`, or a database of its own on the
    /// process's shared PostgreSQL server (password in the URL, as a test may).
    public func location(in dir: TemporaryDirectory, name: String = "s.db") throws -> String {
        switch self {
        case .sqlite: return dir.path(name)
        case .postgres: return try SharedPostgres.newDatabase()
        }
    }
}

/// One PostgreSQL server per test process, started on first use and stopped at exit; each
/// test gets a database of its own on it (`createdb` takes ~0.1 s, a server ~2 s).
public enum SharedPostgres {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var server: TestPostgres?

    public static func get() throws -> TestPostgres {
        lock.lock()
        defer { lock.unlock() }
        if let server { return server }
        let s = try TestPostgres()
        server = s
        atexit { SharedPostgres.stopAtExit() }
        return s
    }

    private static func stopAtExit() {
        lock.lock()
        let s = server
        server = nil
        lock.unlock()
        s?.stop()
    }

    /// `postgres://kubetrail:PASSWORD@127.0.0.1:PORT/kt_…`, a database nobody else uses.
    public static func newDatabase() throws -> String {
        let pg = try get()
        let name = "kt_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try pg.run("createdb", ["-h", "127.0.0.1", "-p", String(pg.port), "-U", TestPostgres.user, String(name)], environment: ["PGPASSWORD": pg.password])
        return "postgres://\(TestPostgres.user):\(pg.password)@127.0.0.1:\(pg.port)/\(name)"
    }
}

extension TestBackend {
    /// The backend a `--db` value names.
    public static func of(_ db: String) -> TestBackend {
        db.hasPrefix("postgres://") || db.hasPrefix("postgresql://") ? .postgres : .sqlite
    }

    /// Runs `sql` on the store at `db` past kubetrail, as someone with write access to the file
    /// or the database would (sqlite3 from Python, psql), for tests of what `verify` catches.
    public static func behindTheBack(_ db: String, _ sql: String) throws {
        let r: ProcessResult
        switch of(db) {
        case .sqlite:
            r = try Subprocess.run(
                URL(fileURLWithPath: "/usr/bin/python3"),
                [
                    "-c",
                    """
                    import sqlite3, sys
                    con = sqlite3.connect(sys.argv[1]); con.executescript(sys.argv[2]); con.commit()
                    """, db, sql
                ])
        case .postgres:
            r = try Subprocess.run(URL(fileURLWithPath: "/usr/bin/psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])
        }
        guard r.status == 0 else { throw ServerError("behind the back: \(r.stderr)") }
    }
}
