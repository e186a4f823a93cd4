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
        let q = try Subprocess.kubetrail(["query", "--output", "csv", "SELECT user_name, count(*) AS n FROM kubernetes_audit_logs GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"] + db)
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
        #expect(down.stderr.contains("cannot open postgres://kubetrail@127.0.0.1:\(port)/kubetrail") && down.stderr.contains("Connection refused"), "\(down.stderr)")
        let empty = try dir.write("empty", "\n")
        let noPassword = try Subprocess.kubetrail(["query", "--db", url, "--db-password-file", empty, "SELECT 1"])
        #expect(noPassword.status != 0 && noPassword.stderr.contains("is empty"), "\(noPassword.stderr)")
    }

    /// Queries run in a read-only transaction: the database refuses writes, whatever the SQL.
    @Test func queriesCannotWrite() throws {
        let dir = try TemporaryDirectory()
        let url = try SharedPostgres.newDatabase()
        _ = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", url])
        for sql in ["DELETE FROM kubernetes_audit_logs", "COMMIT; DELETE FROM kubernetes_audit_logs",
                    "SET TRANSACTION READ WRITE", "CREATE TABLE x (a int)", "SELECT nextval('kubetrail_audit_chain_seq_seq')"] {
            let r = try Subprocess.kubetrail(["query", "--db", url, sql])
            #expect(r.status == 1, "\(sql): \(r.stdout)")
        }
        #expect(try count(url, "SELECT COUNT(*) FROM kubernetes_audit_logs") == 37)
        _ = dir
    }
}
