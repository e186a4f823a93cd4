import Foundation

/// A throwaway PostgreSQL 15 server for one test: `initdb` into a temp dir, `pg_ctl start` on a
/// free port of 127.0.0.1 with password (SCRAM) authentication, stopped and removed at the end.
/// As root (CI) the server runs as the `postgres` user, since PostgreSQL refuses to run as root.
public final class TestPostgres: @unchecked Sendable {
    public static let user = "kubetrail"
    public let password = "pw-" + UUID().uuidString
    public let port: Int
    public let dir: TemporaryDirectory
    private var data: String { dir.path("data") }
    private var stopped = false

    /// `postgres://kubetrail@127.0.0.1:PORT/postgres`, without the password.
    public var url: String { "postgres://\(Self.user)@127.0.0.1:\(port)/postgres" }

    public init() throws {
        dir = try TemporaryDirectory("kubetrail-pg")
        port = try Self.freePort()
        let pwfile = try dir.write("pwfile", password + "\n")
        if getuid() == 0 {
            let r = try Subprocess.run(URL(fileURLWithPath: "/bin/chown"), ["-R", "postgres:postgres", dir.url.path])
            guard r.status == 0 else { throw PostgresSetupError("chown: \(r.stderr)") }
        }
        try run("initdb", ["-D", data, "-U", Self.user, "--pwfile=\(pwfile)", "-A", "scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions"])
        try start()
    }

    /// Starts the server (again, after `stop`: the same data, port and password).
    public func start() throws {
        try run(
            "pg_ctl",
            [
                "-D", data, "-l", dir.path("server.log"), "-w", "-t", "60", "-o",
                "-p \(port) -k \(dir.url.path) -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", "start"
            ])
        stopped = false
    }

    /// Stops the server at once (as a crash would; it is thrown away anyway).
    public func stop() {
        guard !stopped else { return }
        stopped = true
        _ = try? run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
    }

    deinit { stop() }

    /// The server's log, for a failing test's message.
    public var log: String { (try? String(contentsOfFile: dir.path("server.log"), encoding: .utf8)) ?? "" }

    /// Runs a PostgreSQL tool with its output in a file and every other inherited descriptor
    /// closed: the server `pg_ctl start` leaves running would otherwise hold open the pipes of
    /// this and of any test spawning a process at that moment, whose reads would never end.
    public func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let binary = "/usr/lib/postgresql/15/bin/" + tool
        let output = dir.path("\(tool).out")
        let command = (getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [binary] + arguments
        let detach = """
            import os, sys
            out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0); os.dup2(out, 1); os.dup2(out, 2)
            os.closerange(3, 65536)
            os.execv(sys.argv[2], sys.argv[2:])
            """
        let r = try Subprocess.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", detach, output] + command, environment: environment)
        guard r.status == 0 else {
            let said = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw PostgresSetupError("\(tool) failed (\(r.status)): \(said)\n\(log)")
        }
    }

    /// A port the kernel just handed out and nobody holds (bound, read and released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresSetupError("socket: \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw PostgresSetupError("bind: \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

public struct PostgresSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
