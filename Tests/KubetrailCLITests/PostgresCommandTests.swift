import Foundation
import Testing
import TestSupport

/// The CLI on a PostgreSQL store: the password from a file, never shown; import, query,
/// tables, verify and report through `--db postgres://…`; and the failures a user meets.
@Suite struct PostgresCommandTests {
    /// The test database's URL without its password, and a password file.
    static func withoutPassword(_ url: String, in dir: TemporaryDirectory) throws -> (url: String, passwordFile: String, password: String) {
        let pg = try SharedPostgres.get()
        let plain = url.replacingOccurrences(of: ":\(pg.password)@", with: "@")
        let file = try dir.write("db-password", pg.password + "\n")
        return (plain, file, pg.password)
    }

    @Test func importQueryTablesVerifyAndReportWithAPasswordFile() throws {
        let dir = try TemporaryDirectory()
        let (url, file, password) = try Self.withoutPassword(SharedPostgres.newDatabase(), in: dir)
        let db = ["--db", url, "--db-password-file", file]
        let imported = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path] + db)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(lastNumber(imported.stdout, "stored") == 37)
        let q = try Subprocess.kubetrail(
            ["query", "--output", "csv", "SELECT user_name, count(*) AS n FROM kubernetes_audit_logs GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"] + db)
        #expect(q.status == 0, "\(q.stderr)")
        #expect(q.stdout.hasPrefix("user_name,n\n"), "\(q.stdout)")
        // The environment variable does what the flag does.
        let tables = try Subprocess.kubetrail(["tables", "--db", url], environment: ["KUBETRAIL_DB_PASSWORD_FILE": file])
        #expect(tables.status == 0, "\(tables.stderr)")
        #expect(tables.stdout.contains("kubernetes_audit_logs") && tables.stdout.contains("37"), "\(tables.stdout)")
        let verify = try Subprocess.kubetrail(["verify", "--skip-signatures"] + db)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let report = try Subprocess.kubetrail(["report", "--from", "3650d", "--format", "markdown"] + db)
        #expect(report.status == 0, "\(report.stderr)")
        for r in [imported, q, tables, verify, report] { #expect(!(r.stdout + r.stderr).contains(password)) }
    }

    @Test func aWrongPasswordAndAnUnreachableServerAreClearErrorsThatNeverShowThePassword() throws {
        let dir = try TemporaryDirectory()
        let (url, _, _) = try Self.withoutPassword(SharedPostgres.newDatabase(), in: dir)
        let wrong = "wrong-\(UUID().uuidString)"
        let bad = try Subprocess.kubetrail(["query", "--db", url.replacingOccurrences(of: "kubetrail@", with: "kubetrail:\(wrong)@"), "SELECT 1"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("password authentication failed"), "\(bad.stderr)")
        #expect(!bad.stderr.contains(wrong) && bad.stderr.contains("kubetrail:****@"), "\(bad.stderr)")
        let port = try TestPostgres.freePort()
        let down = try Subprocess.kubetrail(["query", "--db", "postgres://kubetrail@127.0.0.1:\(port)/kubetrail", "SELECT 1"])
        #expect(down.status == 1)
        #expect(
            down.stderr.contains("cannot open postgres://kubetrail@127.0.0.1:\(port)/kubetrail") && down.stderr.contains("Connection refused"), "\(down.stderr)"
        )
        let empty = try dir.write("empty", "\n")
        let noPassword = try Subprocess.kubetrail(["query", "--db", url, "--db-password-file", empty, "SELECT 1"])
        #expect(noPassword.status != 0 && noPassword.stderr.contains("is empty"), "\(noPassword.stderr)")
    }

    /// Queries run in a read-only transaction: the database refuses writes, whatever the SQL.
    @Test func queriesCannotWrite() throws {
        let dir = try TemporaryDirectory()
        let url = try SharedPostgres.newDatabase()
        _ = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", url])
        for sql in [
            "DELETE FROM kubernetes_audit_logs", "COMMIT; DELETE FROM kubernetes_audit_logs",
            "SET TRANSACTION READ WRITE", "CREATE TABLE x (a int)", "SELECT nextval('kubetrail_audit_chain_seq_seq')"
        ] {
            let r = try Subprocess.kubetrail(["query", "--db", url, sql])
            #expect(r.status == 1, "\(sql): \(r.stdout)")
        }
        #expect(try count(url, "SELECT COUNT(*) FROM kubernetes_audit_logs") == 37)
        _ = dir
    }

    /// `kubetrail grant-reader`: a role that reads every table (also partitions made later),
    /// whose sessions are read-only and time-limited by the database, and cannot write even
    /// when it asks its session to allow it.
    @Test func aReaderRoleCanReadEverythingAndWriteNothing() throws {
        let dir = try TemporaryDirectory()
        let pg = try SharedPostgres.get()
        let url = try SharedPostgres.newDatabase()
        #expect(try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", url]).status == 0)
        let role = "reader_" + UUID().uuidString.prefix(8).lowercased()
        let rolePassword = "rp-" + UUID().uuidString
        let file = try dir.write("reader-password", rolePassword + "\n")
        let granted = try Subprocess.kubetrail(["grant-reader", "--db", url, "--role", role, "--role-password-file", file, "--statement-timeout", "7s"])
        #expect(granted.status == 0, "\(granted.stderr)")
        #expect(!(granted.stdout + granted.stderr).contains(rolePassword) && !(granted.stdout + granted.stderr).contains(pg.password))
        let database = String(url.split(separator: "/").last!)
        let reader = "postgres://\(role):\(rolePassword)@127.0.0.1:\(pg.port)/\(database)"
        #expect(try count(reader, "SELECT COUNT(*) FROM kubernetes_audit_logs") == 37)
        let settings = try Subprocess.kubetrail([
            "query", "--db", reader, "--output", "csv", "SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only')"
        ])
        #expect(settings.stdout.contains("7s,on"), "\(settings.stdout)\(settings.stderr)")
        // Another day's rows, in a partition made after the grant: readable too.
        #expect(
            try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").path, "--db", url]).status == 0)
        #expect(try count(reader, "SELECT COUNT(*) FROM kubernetes_audit_logs") == 137)
        // Outside kubetrail (psql), asking for a writable session: the grants still refuse.
        do {
            try pg.run(
                "psql",
                [
                    "-h", "127.0.0.1", "-p", String(pg.port), "-U", role, "-d", database, "-v", "ON_ERROR_STOP=1", "-c",
                    "SET default_transaction_read_only = off", "-c", "DELETE FROM kubernetes_audit_logs"
                ], environment: ["PGPASSWORD": rolePassword])
            Issue.record("the reader deleted rows")
        } catch {
            #expect("\(error)".contains("permission denied"), "\(error)")
        }
        #expect(try count(url, "SELECT COUNT(*) FROM kubernetes_audit_logs") == 137)
        let sqlite = try Subprocess.kubetrail(["grant-reader", "--db", dir.path("k.db")])
        #expect(sqlite.status == 1 && sqlite.stderr.contains("PostgreSQL"), "\(sqlite.stderr)")
    }
}
