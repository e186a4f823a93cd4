import Foundation
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

@Suite struct ReadOnlyConnectionTests {
    let dir: TemporaryDirectory
    let path: String

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.path("ro.db")
        let store = try SQLiteStore(path: path)
        _ = try store.write { w in try (0..<50).map { try w.insert(auditRow("a\($0)")) } }
    }

    func run(_ sql: String, _ limits: ReadOnlyConnection.Limits = .init()) throws -> [[String]] {
        let c = Collect()
        try ReadOnlyConnection(path: path).run(sql, limits: limits, into: c)
        return c.rows
    }

    @Test(arguments: [
        "INSERT INTO kubernetes_audit_logs (tp_id) VALUES ('x')",
        "DELETE FROM kubernetes_audit_logs",
        "UPDATE kubernetes_audit_logs SET verb = 'x'",
        "DROP TABLE kubernetes_audit_logs",
        "CREATE TABLE evil (a)",
        "CREATE TEMP TABLE evil (a)",
        "ATTACH DATABASE '/tmp/kubetrail-attack.db' AS other",
        "ATTACH ':memory:' AS scratch",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = 1",
        "PRAGMA query_only = 0",
        "UPDATE sqlite_master SET sql = 'x'",
        "BEGIN IMMEDIATE",
        "VACUUM INTO '/tmp/kubetrail-copy.db'",
        "SELECT load_extension('/tmp/evil.so')",
        "WITH x AS (SELECT 1) DELETE FROM kubernetes_audit_logs"
    ])
    func everyWriteOrConfigurationChangeIsRefused(sql: String) throws {
        #expect(throws: StoreError.self) { _ = try run(sql) }
        #expect(try run("SELECT COUNT(*) FROM kubernetes_audit_logs") == [["50"]])
        #expect(!FileManager.default.fileExists(atPath: "/tmp/kubetrail-copy.db"))
    }

    @Test func readingPragmasAndTableFunctionsWork() throws {
        #expect(try run("SELECT COUNT(*) FROM pragma_table_info('kubernetes_audit_logs')")[0][0] == String(AuditLogRow.schema.columns.count))
        #expect(try run("SELECT * FROM pragma_integrity_check") == [["ok"]])
        #expect(try run("SELECT COUNT(*) FROM kubernetes_audit_logs, json_each(tp_usernames)") == [["50"]])
    }

    @Test func rowAndTimeLimitsStopAQueryWithAClearError() throws {
        do {
            _ = try run("SELECT * FROM kubernetes_audit_logs", .init(maxRows: 10))
            Issue.record("row limit not enforced")
        } catch let error as StoreError {
            #expect("\(error)".contains("more than 10 rows"))
        }
        let started = Date()
        do {
            _ = try run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n", .init(timeLimit: 0.3))
            Issue.record("time limit not enforced")
        } catch let error as StoreError {
            #expect("\(error)".contains("time limit"))
        }
        #expect(Date().timeIntervalSince(started) < 10)
    }
}
