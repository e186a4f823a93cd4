import Foundation
import GRDB
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

/// The audit table's indexes are chosen for the queries people run (kubetrail-bench store):
/// these pin the plans that made top-N queries 8× faster, and the upgrade of an older file.
@Suite struct AuditIndexTests {
    static let topN = [
        "SELECT user_name, count(*) AS n FROM kubernetes_audit_logs GROUP BY user_name ORDER BY n DESC LIMIT 10",
        "SELECT namespace, count(*) AS n FROM kubernetes_audit_logs GROUP BY namespace ORDER BY n DESC LIMIT 10",
        "SELECT verb, resource, count(*) AS n FROM kubernetes_audit_logs GROUP BY verb, resource ORDER BY n DESC LIMIT 20"
    ]

    /// A group-by that reads an index in its own order never sorts the table's keys.
    @Test func topNGroupBysReadAnIndexInOrder() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        for sql in Self.topN {
            let plan = try store.explain(sql).joined(separator: "\n")
            #expect(plan.contains("COVERING INDEX"), "\(sql)\n\(plan)")
            #expect(!plan.contains("TEMP B-TREE FOR GROUP BY"), "\(sql)\n\(plan)")
        }
    }

    /// The README's secret and administrative queries read the verb index's ranges, never the
    /// table: the administrative one used to walk the whole table in time order.
    @Test func readmeQueriesSeekTheVerbIndex() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        let secrets =
            "SELECT stage_timestamp, user_name, verb, namespace, name, response_code FROM kubernetes_audit_logs WHERE resource = 'secrets' AND verb IN ('get', 'list') ORDER BY stage_timestamp DESC"
        let admin =
            "SELECT stage_timestamp, user_name, verb, resource, namespace, name FROM kubernetes_audit_logs WHERE verb IN ('create', 'update', 'patch', 'delete') AND user_name NOT LIKE 'system:%' ORDER BY stage_timestamp DESC"
        let secretsPlan = try store.explain(secrets).joined(separator: "\n")
        #expect(
            secretsPlan.contains("COVERING INDEX kubernetes_audit_logs__verb__resource__") && secretsPlan.contains("(verb=? AND resource=?)"), "\(secretsPlan)")
        let adminPlan = try store.explain(admin).joined(separator: "\n")
        #expect(adminPlan.contains("COVERING INDEX kubernetes_audit_logs__verb__resource__") && adminPlan.contains("(verb=?)"), "\(adminPlan)")
    }

    /// A database written before these indexes existed gains them when opened for writing, and
    /// answers the same; an index kubetrail no longer lists is dropped.
    @Test func anOlderDatabaseGainsTheIndexesOnOpen() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("old.db")
        do {
            let store = try SQLiteStore(path: path)
            _ = try store.write { w in
                for (i, user) in ["alice", "bob", "bob", "carol", "bob"].enumerated() {
                    var row = auditRow("id-\(i)")
                    row.userName = user
                    _ = try w.insert(row)
                }
            }
        }
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: #"DROP INDEX "kubernetes_audit_logs__user_name""#)
            try db.execute(sql: #"DROP INDEX "kubernetes_audit_logs__namespace""#)
            try db.execute(sql: #"DROP INDEX "kubernetes_audit_logs__verb__resource__stage_timestamp__user_name__namespace__name__response_code""#)
            try db.execute(
                sql:
                    #"CREATE INDEX "kubernetes_audit_logs__resource__verb__stage_timestamp__user_name__namespace__name__response_code" ON kubetrail_audit_rows (resource, verb, stage_timestamp, user_name, namespace, name, response_code)"#
            )
            try db.execute(sql: "CREATE INDEX someone_elses ON kubetrail_audit_rows (verb)")
        }
        try queue.close()

        let reopened = try SQLiteStore(path: path)
        let indexes = try DatabaseQueue(path: path).read { db in try db.indexes(on: "kubetrail_audit_rows").map(\.name) }
        #expect(Set(indexes) == Set(AuditLogRow.schema.indexNames + ["someone_elses", AuditStorage.keyIndex]))
        #expect(!(try reopened.explain(Self.topN[0]).joined().contains("TEMP B-TREE FOR GROUP BY")))
        let c = Collect()
        try reopened.query(Self.topN[0], into: c)
        #expect(c.rows.first == ["bob", "3"])
        #expect(c.rows.count == 3)
    }
}
