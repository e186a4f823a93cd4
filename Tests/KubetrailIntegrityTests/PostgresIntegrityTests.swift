import Foundation
import KubetrailCore
import KubetrailImport
import KubetrailIntegrity
import KubetrailStore
import KubetrailTables
import Testing
import TestSupport

/// The audit chain on PostgreSQL, tampered with through PostgreSQL itself (a connection of
/// the test's own, as an operator with write access would): `verify` names the same things
/// it names on SQLite. And two aggregators writing one database at once store every event
/// once, in one chain per cluster that verifies.
@Suite struct PostgresIntegrityTests {
    struct Lab {
        let dir: TemporaryDirectory
        let url: String
        let store: any Store
        let key = Curve25519PrivateKey()
        var offHost: String { dir.path("digests") }

        init() throws {
            dir = try TemporaryDirectory()
            url = try SharedPostgres.newDatabase()
            store = try StoreLocation(parsing: url).open(.readWrite)
            try importAudit("audit/audit2rbac_demo.log", cluster: nil)
        }

        func importAudit(_ fixture: String, cluster: String?, into store: (any Store)? = nil) throws {
            _ = try Importer(store: store ?? self.store, options: .init(kind: .audit, clusterName: cluster)).run(InputFiles.expand([Fixtures.url(fixture).path]))
        }

        func digest(at now: Timestamp = .now, retention: Double? = nil) throws {
            try DigestWriter(key: key, interval: 300, retention: retention, directory: offHost).write(store, now: now)
        }

        func verify() throws -> ChainVerifier.Report {
            try ChainVerifier(store: StoreLocation(parsing: url).open(.readOnly), publicKey: key.publicKey,
                              offHost: try DigestWriter.load(directory: offHost), from: nil, to: nil).run()
        }

        @discardableResult
        func behindTheBack(_ sql: String, _ parameters: [String?] = []) throws -> PostgresConnection.Result {
            try PostgresConnection(url: url).execute(sql, parameters)
        }

        /// The n-th chain entry's row id (in commit order).
        func id(entry n: Int) throws -> String {
            try behindTheBack("SELECT tp_id FROM kubetrail_audit_chain ORDER BY seq OFFSET $1 LIMIT 1", [String(n - 1)]).rows[0][0]!
        }
    }

    static func kinds(_ report: ChainVerifier.Report) -> [String] { report.findings.map(\.kind.rawValue).sorted() }

    @Test func anUntouchedTrailVerifiesAcrossClustersAndDigests() throws {
        let lab = try Lab()
        try lab.digest()
        try lab.importAudit("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log", cluster: "prod")
        try lab.digest()
        let report = try lab.verify()
        #expect(report.findings.isEmpty, "\(report.findings)")
        #expect(report.clusters.map(\.cluster) == ["default", "prod"])
        #expect(report.clusters.map(\.entriesChecked) == [37, 100])
    }

    @Test func updateDeleteAndInsertBehindTheBackAreEachNamed() throws {
        let lab = try Lab()
        try lab.digest()
        let (changed, removed) = (try lab.id(entry: 5), try lab.id(entry: 9))
        try lab.behindTheBack("UPDATE kubernetes_audit_logs SET user_name = 'someone-else' WHERE tp_id = $1", [changed])
        try lab.behindTheBack("DELETE FROM kubernetes_audit_logs WHERE tp_id = $1", [removed])
        try lab.behindTheBack("""
            INSERT INTO kubernetes_audit_logs SELECT * FROM kubernetes_audit_logs WHERE tp_id = $1
            """.replacingOccurrences(of: "SELECT *", with: "SELECT 'forged-row', " + AuditLogRow.schema.columns.dropFirst().map { "\"\($0.name)\"" }.joined(separator: ", ")),
            [try lab.id(entry: 1)])
        let report = try lab.verify()
        #expect(Self.kinds(report) == ["deleted", "inserted", "modified"], "\(report.findings)")
        let text = report.findings.map(\.message).joined(separator: "\n")
        #expect(text.contains("row \(changed) (seq 5") && text.contains("was modified"))
        #expect(text.contains("row \(removed) (seq 9") && text.contains("was deleted"))
        #expect(text.contains("row forged-row") && text.contains("not in the chain"))
    }

    @Test func rewritingTheChainToHideADeletionBreaksTheSignedHead() throws {
        let lab = try Lab()
        try lab.digest()
        let removed = try lab.id(entry: 9)
        try lab.behindTheBack("DELETE FROM kubernetes_audit_logs WHERE tp_id = $1", [removed])
        try lab.behindTheBack("DELETE FROM kubetrail_audit_chain WHERE tp_id = $1", [removed])
        // Re-link every later entry, as docs/integrity.md says the chain is computed.
        var previous = ChainHash.genesis
        for r in try lab.behindTheBack("SELECT seq, tp_id, tp_timestamp, encode(row_hash, 'hex') FROM kubetrail_audit_chain WHERE cluster = 'default' ORDER BY seq").rows {
            previous = ChainHash.next(previous, cluster: "default", id: r[1]!, timestamp: r[2]!, rowHash: Hex.decode(r[3]!)!)
            try lab.behindTheBack("UPDATE kubetrail_audit_chain SET chain_hash = decode($1, 'hex') WHERE seq = $2", [Hex.encode(previous), r[0]])
        }
        let report = try lab.verify()
        #expect(!report.findings.isEmpty && Self.kinds(report).allSatisfy { $0 == "digest" }, "\(report.findings)")
        #expect(report.findings.map(\.message).joined().contains("does not match digest #1's signed head"))
    }

    /// PostgreSQL text cannot hold NUL: it is stored as U+FFFD, and the row hashed as stored.
    @Test func aNulInsideAValueIsStoredReplacedAndVerifies() throws {
        let lab = try Lab()
        let event = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"nul-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/pods/a%00b","verb":"get","user":{"username":"u\u0000v"},"objectRef":{"resource":"pods","namespace":"d","name":"a\u0000b"},"requestObject":{"k":"x\u0000y","s":"\ud800"},"stageTimestamp":"2026-11-27T10:00:00.000000Z"}"#
        let file = try lab.dir.write("nul.log", event + "\n")
        let summary = try Importer(store: lab.store, options: .init(kind: .audit)).run(InputFiles.expand([file]))
        #expect(summary.stored == 1, "\(summary)")
        let row = try lab.behindTheBack("SELECT user_name, name, request_object::text FROM kubernetes_audit_logs WHERE audit_id = 'nul-1'").rows
        #expect(row == [["u\u{FFFD}v", "a\u{FFFD}b", #"{"k":"x\ufffdy","s":"\ufffd"}"#]])
        try lab.digest()
        let report = try lab.verify()
        #expect(report.findings.isEmpty && report.clusters[0].entriesChecked == 38, "\(report.findings)")
    }

    @Test func retentionDropsWholeDaysAndIsNotMistakenForTampering() throws {
        let lab = try Lab()
        try lab.digest()
        let cutoff = Timestamp.now.adding(microseconds: -30 * 86_400_000_000)
        let partitions = { try lab.behindTheBack("SELECT count(*) FROM pg_inherits WHERE inhparent = 'kubernetes_audit_logs'::regclass").rows[0][0] }
        let before = try partitions()
        #expect(try lab.store.write { try $0.deleteOlder(in: AuditLogRow.schema, than: cutoff, limit: 1000) } == 37)
        // The fixture's 2017 day went as a partition, not row by row.
        #expect(Int(try partitions()!)! == Int(before!)! - 1)
        try lab.digest(retention: 30 * 86_400)
        #expect(try lab.verify().findings.isEmpty)
        #expect(try lab.store.write { try $0.pruneAuditChain(olderThan: cutoff) } == 37)
        // The same events again: a new commit, in a partition made again for them.
        try lab.importAudit("audit/audit2rbac_demo.log", cluster: nil)
        try lab.digest(retention: 30 * 86_400)
        let after = try lab.verify()
        #expect(after.findings.isEmpty && after.clusters[0].entriesChecked == 37, "\(after.findings)")
    }

    /// Two aggregators' stores on one database, importing overlapping events at the same time:
    /// each event stored once, one chain, verified.
    @Test func twoWritersAtOnceStoreEachEventOnceInOneChain() async throws {
        let lab = try Lab()
        let second = try StoreLocation(parsing: lab.url).open(.readWrite)
        let fixtures = ["audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log", "audit/audit2rbac_demo.log"]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in [lab.store, second] {
                group.addTask {
                    for _ in 0..<3 { for f in fixtures { try lab.importAudit(f, cluster: nil, into: store) } }
                }
            }
            try await group.waitForAll()
        }
        #expect(try lab.behindTheBack("SELECT count(*), count(DISTINCT tp_id) FROM kubernetes_audit_logs").rows == [["137", "137"]])
        #expect(try lab.behindTheBack("SELECT count(*) FROM kubetrail_audit_chain").rows == [["137"]])
        try lab.digest()
        let report = try lab.verify()
        #expect(report.findings.isEmpty && report.clusters.map(\.entriesChecked) == [137], "\(report.findings)")
    }

    /// A writer whose last entry was removed behind its back extends nothing more, as on SQLite.
    @Test func aWriterRefusesAChainWhoseTailWasCut() throws {
        let lab = try Lab()
        try lab.behindTheBack("DELETE FROM kubetrail_audit_chain WHERE seq = (SELECT max(seq) FROM kubetrail_audit_chain)")
        let rows = ChainHeadTests.auditRows(auditID: "after-cut")
        #expect(throws: ChainTampered.self) { try lab.store.write { w in for r in rows { _ = try w.insert(r) } } }
        #expect(try lab.behindTheBack("SELECT count(*) FROM kubernetes_audit_logs WHERE audit_id = 'after-cut'").rows == [["0"]])
    }
}
