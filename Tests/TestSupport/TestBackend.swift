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
