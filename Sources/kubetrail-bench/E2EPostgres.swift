import Foundation

/// The PostgreSQL server of `kubetrail-bench e2e --postgres`: PostgreSQL 15 from Debian in the
/// run's directory, with its default durability (fsync on), crashed (`pg_ctl stop -m
/// immediate`: no checkpoint, recovery from the WAL at the next start) and started again.
final class E2EPostgres {
    let dir: String
    let port: Int
    var url: String { "postgres://kubetrail@127.0.0.1:\(port)/postgres" }
    private static let bin = "/usr/lib/postgresql/15/bin/"

    init(dir: String) throws {
        self.dir = dir
        port = try freeLoopbackPort()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // PostgreSQL refuses to run as root: as root, the server runs as the postgres user.
        if getuid() == 0 { _ = e2eShell("chown -R postgres:postgres '\(dir)'") }
        guard Self.tool("initdb", "-D '\(dir)/data' -U kubetrail -A trust -E UTF8 --no-instructions") == 0 else {
            throw E2EError("initdb failed: is postgresql-15 installed (scripts/setup)?")
        }
        try start()
    }

    func start() throws {
        guard Self.tool("pg_ctl", "-D '\(dir)/data' -l '\(dir)/server.log' -w -t 60 -o \"-p \(port) -k '\(dir)' -c listen_addresses=127.0.0.1\" start") == 0
        else {
            throw E2EError("PostgreSQL did not start: see \(dir)/server.log")
        }
    }

    /// As a crash: no shutdown checkpoint; the next start recovers from the WAL.
    func crash() -> Bool { Self.tool("pg_ctl", "-D '\(dir)/data' -m immediate -w stop") == 0 }

    func stop() { _ = Self.tool("pg_ctl", "-D '\(dir)/data' -m fast -w stop") }

    /// A PostgreSQL tool, as postgres when root, with every descriptor above 2 closed (the server
    /// it may leave running must hold none of this process's pipes).
    private static func tool(_ name: String, _ arguments: String) -> Int32 {
        let user = getuid() == 0 ? "/usr/sbin/runuser -u postgres -- " : ""
        return e2eShell(
            "python3 -c 'import os, sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \(user)\(bin)\(name) \(arguments) > /dev/null 2>&1")
    }
}
