import Foundation
import Testing
import TestSupport
@testable import KubetrailStore

/// The libpq connection the PostgreSQL store is built on, against a real PostgreSQL 15 started
/// for each test (`TestPostgres`).
@Suite struct PostgresConnectionTests {
    @Test func connectsWithThePasswordAndRunsParameterizedStatements() throws {
        let pg = try TestPostgres()
        let c = try PostgresConnection(url: pg.url, password: pg.password)
        #expect(c.serverVersion / 10000 == 15)
        try c.execute("CREATE TABLE t (id int, name text)")
        let values: [String?] = ["Zoë \u{1F600}", nil, "", "a'b\"c\\d"]
        for (i, v) in values.enumerated() { try c.execute("INSERT INTO t VALUES ($1, $2)", [String(i), v]) }
        let r = try c.execute("SELECT id, name FROM t ORDER BY id")
        #expect(r.columns == ["id", "name"])
        #expect(r.rows.map { $0[1] } == values)
        #expect(try c.execute("DELETE FROM t WHERE id >= $1", ["2"]).affected == 2)
    }

    /// A password from libpq's own sources (here a passfile named in the URL, as ~/.pgpass is).
    @Test func readsThePasswordFromAPassfile() throws {
        let pg = try TestPostgres()
        let passfile = try pg.dir.write("pgpass", "127.0.0.1:\(pg.port):*:\(TestPostgres.user):\(pg.password)\n")
        chmod(passfile, 0o600)
        let c = try PostgresConnection(url: pg.url + "?passfile=\(passfile)")
        #expect(try c.execute("SELECT current_user").rows == [[TestPostgres.user]])
    }

    @Test func aWrongPasswordIsAClearErrorThatNeverShowsIt() throws {
        let pg = try TestPostgres()
        let wrong = "not-the-password-\(UUID().uuidString)"
        do {
            _ = try PostgresConnection(url: "postgres://\(TestPostgres.user):\(wrong)@127.0.0.1:\(pg.port)/postgres")
            Issue.record("connected with a wrong password")
        } catch let error as PostgresConnection.Failure {
            #expect("\(error)".contains("password authentication failed for user \"kubetrail\""), "\(error)")
            #expect(!"\(error)".contains(wrong))
        }
    }

    @Test func anUnreachableServerFailsFast() throws {
        let port = try TestPostgres.freePort()
        let started = Date()
        #expect(throws: PostgresConnection.Failure.self) {
            _ = try PostgresConnection(url: "postgres://kubetrail@127.0.0.1:\(port)/postgres", password: "x", connectTimeout: 2)
        }
        #expect(Date().timeIntervalSince(started) < 10)
    }

    /// TCP keepalives and a user timeout by default, so a writer whose server vanished without
    /// a word fails within a minute (and the agent is answered 503); the URL's own choice wins.
    @Test func deadPeersAreNoticedByDefaultAndTheURLMayOverride() throws {
        let pg = try TestPostgres()
        let c = try PostgresConnection(url: pg.url, password: pg.password)
        #expect(
            ["keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"].map { c.option($0) }
                == ["1", "30", "10", "3", "60000"])
        // What the kernel was told for the socket itself.
        func socketOption(_ level: Int32, _ name: Int32) -> Int32 {
            var value: Int32 = -1
            var size = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(c.socketDescriptor, level, name, &value, &size) == 0 ? value : -1
        }
        #expect(socketOption(SOL_SOCKET, SO_KEEPALIVE) == 1)
        #expect(socketOption(Int32(IPPROTO_TCP), TCP_KEEPIDLE) == 30 && socketOption(Int32(IPPROTO_TCP), TCP_KEEPCNT) == 3)
        #expect(socketOption(Int32(IPPROTO_TCP), TCP_USER_TIMEOUT) == 60000)
        let own = try PostgresConnection(url: pg.url + "?keepalives_idle=5&tcp_user_timeout=0", password: pg.password)
        #expect(own.option("keepalives_idle") == "5" && own.option("tcp_user_timeout") == "0" && own.option("keepalives_count") == "3")
    }

    @Test func serverErrorsCarryTheirSQLState() throws {
        let pg = try TestPostgres()
        let c = try PostgresConnection(url: pg.url, password: pg.password)
        do {
            try c.execute("SELEC 1")
            Issue.record("a syntax error ran")
        } catch let error as PostgresConnection.Failure {
            #expect(error.sqlState == "42601" && error.message.contains("syntax error"), "\(error)")
        }
        // A NUL would cut a parameter short: refused, not stored cut.
        do {
            try c.execute("SELECT $1::text", ["before\u{0}after"])
            Issue.record("a parameter with a NUL was sent")
        } catch let error as PostgresConnection.Failure {
            #expect(error.message.contains("parameter $1 contains a NUL byte"), "\(error)")
        }
        // The connection is still usable after an error.
        #expect(try c.execute("SELECT 1").rows == [["1"]])
    }

    /// COPY's text format escapes what would split a row or a column: every value comes back.
    @Test func copyTakesEveryByteOfEveryRow() throws {
        let pg = try TestPostgres()
        let c = try PostgresConnection(url: pg.url, password: pg.password)
        try c.execute("CREATE TABLE logs (n int, message text)")
        let awkward: [String] = ["tab\there", "new\nline", "cr\r\n", "back\\slash", "\\N", "", "ünïcödé", String(repeating: "x", count: 10_000)]
        var rows: [[String?]] = []
        for i in 0..<5_000 {
            let message: String? = i % 9 == 8 ? nil : awkward[i % 8]
            rows.append([String(i), message])
        }
        #expect(try c.copyIn("COPY logs (n, message) FROM STDIN", rows: rows) == 5_000)
        let back = try c.execute("SELECT n, message FROM logs ORDER BY n")
        #expect(back.rows == rows)
    }

    @Test func aCopyTheServerRefusesStoresNothing() throws {
        let pg = try TestPostgres()
        let c = try PostgresConnection(url: pg.url, password: pg.password)
        try c.execute("CREATE TABLE t (n int NOT NULL)")
        #expect(throws: PostgresConnection.Failure.self) {
            try c.copyIn("COPY t (n) FROM STDIN", rows: [["1"], ["not a number"], ["3"]])
        }
        #expect(try c.execute("SELECT count(*) FROM t").rows == [["0"]])
    }

    @Test func urlsAreShownWithoutTheirPassword() {
        #expect(PostgresURL.redacted("postgres://kt:s3cr@t/x@db:5432/audit?sslmode=verify-full") == "postgres://kt:****@db:5432/audit?sslmode=verify-full")
        #expect(PostgresURL.redacted("postgres://kt@db/audit") == "postgres://kt@db/audit")
        #expect(PostgresURL.redacted("postgresql://kt:pw@db") == "postgresql://kt:****@db")
    }
}
