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
            _ = try Importer(store: store ?? self.store, options: .init(kind: .audit, clusterName: cluster)).run(
                InputFiles.expand([Fixtures.url(fixture).path]))
        }

        func digest(at now: Timestamp = .now, retention: Double? = nil) throws {
            try DigestWriter(key: key, interval: 300, retention: retention, directory: offHost).write(store, now: now)
        }

        func verify() throws -> ChainVerifier.Report {
            try ChainVerifier(
                store: StoreLocation(parsing: url).open(.readOnly), publicKey: key.publicKey,
                offHost: try DigestWriter.load(directory: offHost), from: nil, to: nil
            ).run()
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
        try lab.behindTheBack(
            """
            INSERT INTO kubernetes_audit_logs SELECT * FROM kubernetes_audit_logs WHERE tp_id = $1
            """.replacingOccurrences(
                of: "SELECT *", with: "SELECT 'forged-row', " + AuditLogRow.schema.columns.dropFirst().map { "\"\($0.name)\"" }.joined(separator: ", ")),
            [try lab.id(entry: 1)])
        let report = try lab.verify()
        #expect(ChainVerifierTests.kinds(report) == ["deleted", "inserted", "modified"], "\(report.findings)")
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
        for r in try lab.behindTheBack(
            "SELECT seq, tp_id, tp_timestamp, encode(row_hash, 'hex') FROM kubetrail_audit_chain WHERE cluster = 'default' ORDER BY seq"
        ).rows {
            previous = ChainHash.next(previous, cluster: "default", id: r[1]!, timestamp: r[2]!, rowHash: Hex.decode(r[3]!)!)
            try lab.behindTheBack("UPDATE kubetrail_audit_chain SET chain_hash = decode($1, 'hex') WHERE seq = $2", [Hex.encode(previous), r[0]])
        }
        let report = try lab.verify()
        #expect(!report.findings.isEmpty && ChainVerifierTests.kinds(report).allSatisfy { $0 == "digest" }, "\(report.findings)")
        #expect(report.findings.map(\.message).joined().contains("does not match digest #1's signed head"))
    }

    /// PostgreSQL text cannot hold NUL: it is stored as U+FFFD, and the row hashed as stored.
    @Test func aNulInsideAValueIsStoredReplacedAndVerifies() throws {
        let lab = try Lab()
        let event =
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"nul-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/pods/a%00b","verb":"get","user":{"username":"u\u0000v"},"objectRef":{"resource":"pods","namespace":"d","name":"a\u0000b"},"requestObject":{"k":"x\u0000y","s":"\ud800"},"stageTimestamp":"2026-11-27T10:00:00.000000Z"}"#
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

    /// An auditID holding a NUL, and a stage timestamp in year 0 (in the contract's range, not
    /// PostgreSQL's): stored made storable, chained as stored, verified.
    @Test func aNulInTheIdAndYearZeroAreStoredAsTheyCanBe() throws {
        let lab = try Lab()
        let events = [
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id\u0000x","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"stageTimestamp":"2026-11-27T10:00:00Z"}"#,
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"year-zero","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"stageTimestamp":"0000-01-01T00:00:00Z"}"#
        ]
        let file = try lab.dir.write("odd.log", events.joined(separator: "\n") + "\n")
        let summary = try Importer(store: lab.store, options: .init(kind: .audit)).run(InputFiles.expand([file]))
        #expect(summary.stored == 2, "\(summary)")
        #expect(try lab.behindTheBack("SELECT tp_id FROM kubernetes_audit_logs WHERE tp_id LIKE 'id%x:%'").rows == [["id\u{FFFD}x:ResponseComplete"]])
        #expect(try lab.behindTheBack("SELECT tp_timestamp::text FROM kubernetes_audit_logs WHERE audit_id = 'year-zero'").rows == [["0001-01-01 00:00:00+00"]])
        // Sent again: found stored, not a conflict.
        #expect(try Importer(store: lab.store, options: .init(kind: .audit)).run(InputFiles.expand([file])).stored == 0)
        try lab.digest()
        let report = try lab.verify()
        #expect(report.findings.isEmpty && report.clusters[0].entriesChecked == 39, "\(report.findings)")
    }

    /// Rows of the day the cutoff falls in go with the whole days before it, so no row older
    /// than the cutoff outlives the chain entries pruned after it.
    @Test func retentionDeletesTheCutoffsDayToo() throws {
        let lab = try Lab()
        let now = Timestamp.now
        let cutoff = now.adding(microseconds: -30 * 86_400_000_000)
        func event(_ id: String, _ t: Timestamp) -> String {
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"\#(id)","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"stageTimestamp":"\#(t.iso8601)"}"#
        }
        let lines = [event("before", cutoff.adding(microseconds: -60_000_000)), event("after", cutoff.adding(microseconds: 60_000_000))]
        let file = try lab.dir.write("edge.log", lines.joined(separator: "\n") + "\n")
        _ = try Importer(store: lab.store, options: .init(kind: .audit)).run(InputFiles.expand([file]))
        try lab.digest()
        // The 2017 fixture's day is dropped whole; "before" is deleted from its day; "after" stays.
        #expect(try lab.store.write { try $0.deleteOlder(in: AuditLogRow.schema, than: cutoff, limit: 1000) } == 38)
        #expect(try lab.behindTheBack("SELECT audit_id FROM kubernetes_audit_logs").rows == [["after"]])
        try lab.digest(retention: 30 * 86_400)
        _ = try lab.store.write { try $0.pruneAuditChain(olderThan: cutoff) }
        let report = try lab.verify()
        #expect(report.findings.isEmpty, "\(report.findings)")
    }

    /// A row put in behind the writers' backs, then the same event sent: the key conflict is
    /// not an error that would refuse the batch forever; the copy is a duplicate.
    @Test func aRowStoredWithoutAChainEntryDoesNotWedgeIngest() throws {
        let lab = try Lab()
        let rows = ChainHeadTests.auditRows(auditID: "planted")
        // The planted row: the event's own values, without its chain entry.
        try lab.store.write { w in for r in rows { _ = try w.insert(r) } }
        try lab.behindTheBack("DELETE FROM kubetrail_audit_chain WHERE tp_id = 'planted:ResponseComplete'")
        // Another aggregator (this one would refuse the cut tail, rightly) gets the event again.
        let other = try StoreLocation(parsing: lab.url).open(.readWrite)
        let outcome = try other.write { w in try w.insert(PreparedRow(rows[0])) }
        #expect(outcome == .duplicate)
        #expect(try lab.behindTheBack("SELECT count(*) FROM kubernetes_audit_logs WHERE audit_id = 'planted'").rows == [["1"]])
        // And a new event in the same batch as such a copy is stored and chained.
        let fresh = ChainHeadTests.auditRows(auditID: "fresh-one")
        let outcomes = try other.write { w in try w.insert([PreparedRow(rows[0]), PreparedRow(fresh[0])]) }
        #expect(outcomes == [.duplicate, .inserted])
        #expect(try lab.behindTheBack("SELECT count(*) FROM kubetrail_audit_chain WHERE tp_id = 'fresh-one:ResponseComplete'").rows == [["1"]])
    }

    /// Whatever a query leaves in its session (settings, an advisory lock) goes with its
    /// connection; a COPY is refused; and a database whose bytea output is 'escape' still
    /// reads its hashes.
    @Test func queriesLeaveNothingBehindAndDatabaseDefaultsDoNotMatter() throws {
        let lab = try Lab()
        final class Sink: QuerySink {
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) {}
            func end() {}
        }
        try lab.store.query("SELECT set_config('TimeZone', 'Asia/Tokyo', false), pg_advisory_lock(\(0x6B75), hashtext('default'))", into: Sink())
        #expect(throws: StoreError.self) { try lab.store.query("COPY kubernetes_audit_logs TO STDOUT", into: Sink()) }
        try lab.behindTheBack("ALTER DATABASE \(lab.url.split(separator: "/").last!) SET bytea_output = 'escape'")
        let more = ChainHeadTests.auditRows(auditID: "after-query")
        try lab.store.write { w in for r in more { _ = try w.insert(r) } }
        try lab.digest()
        let report = try lab.verify()
        #expect(report.findings.isEmpty && report.clusters[0].entriesChecked == 38, "\(report.findings)")
    }
}
