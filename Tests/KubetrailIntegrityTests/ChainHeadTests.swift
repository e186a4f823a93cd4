import Foundation
import KubetrailCore
import KubetrailIntegrity
import KubetrailStore
import KubetrailTables
import Testing
import TestSupport

/// The outside review's probes against the writer and the digest writer: rows and chain entries
/// deleted or rewritten between two digests, which the next digest used to sign as if nothing
/// had happened, and stores wiped whole or of one cluster, which `verify` used to pass.
@Suite struct ChainHeadTests {
    typealias Lab = ChainVerifierTests.Lab

    /// One more audit row for the `default` cluster, written the way the aggregator writes.
    static func appendOne(_ store: any Store, auditID: String = UUID().uuidString) throws {
        let rows = auditRows(auditID: auditID)
        try store.write { w in for r in rows { _ = try w.insert(r) } }
    }

    static func auditRows(auditID: String = UUID().uuidString) -> [AuditLogRow] {
        let line =
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"\#(auditID)","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-12-01T10:00:00.000000Z","stageTimestamp":"2026-12-01T10:00:00.100000Z"}"#
        var rows: [AuditLogRow] = []
        AuditDecoder.decode(Array(line.utf8), context: IngestContext(clusterName: nil, sourceType: .auditFile)) { outcome in
            if case .row(let r) = outcome { rows.append(r) }
        }
        return rows
    }

    @Test func aTailDeletedBeforeTheNextDigestIsSignedAsMissingAndAppendsStop() throws {
        let lab = try Lab()
        try lab.digest()
        for _ in 0..<5 { try Self.appendOne(lab.store) }
        // The probe: the newest rows and their chain entries go, the chain stays consistent.
        try lab.behindTheBack(
            """
            for (rowid,) in con.execute("SELECT row_rowid FROM kubetrail_audit_chain ORDER BY seq DESC LIMIT 2").fetchall():
                con.execute("DELETE FROM kubetrail_audit_rows WHERE rowid = ?", (rowid,))
                con.execute("DELETE FROM kubetrail_audit_chain WHERE row_rowid = ?", (rowid,))
            """)
        #expect(throws: IntegrityError.self) { try lab.digest() }
        let report = try lab.verify()
        let text = report.findings.map(\.description).joined(separator: "\n")
        #expect(!report.findings.isEmpty, "the deletion must not verify")
        #expect(text.contains("ends at chain entry seq 42, which is missing"), "\(text)")
        #expect(text.contains("changed behind its back"), "\(text)")
        // The writer refuses to extend a head it did not write.
        #expect(throws: ChainTampered.self) { try Self.appendOne(lab.store) }
    }

    @Test func aRewrittenSpanWithRecomputedHashesIsCaughtByTheHeadTheWriterKept() throws {
        let lab = try Lab()
        try lab.digest()
        for _ in 0..<5 { try Self.appendOne(lab.store) }
        try lab.behindTheBack(
            """
            tp_id = con.execute("SELECT tp_id FROM kubetrail_audit_chain ORDER BY seq DESC LIMIT 1 OFFSET 2").fetchone()[0]
            con.execute("DELETE FROM kubetrail_audit_rows WHERE tp_id = ?", (tp_id,))
            con.execute("DELETE FROM kubetrail_audit_chain WHERE tp_id = ?", (tp_id,))
            relink('default')
            """)
        #expect(throws: IntegrityError.self) { try lab.digest() }
        let text = try lab.verify().findings.map(\.description).joined(separator: "\n")
        #expect(text.contains("does not match digest #2's signed head"), "\(text)")
        #expect(throws: ChainTampered.self) { try Self.appendOne(lab.store) }
    }

    @Test func aRestartAdoptsOnlyACheckedSpan() throws {
        let lab = try Lab()
        try lab.digest()
        for _ in 0..<3 { try Self.appendOne(lab.store) }
        // A clean restart: the span since digest #1 checks out and becomes the writer's own.
        let restarted = try SQLiteStore(path: lab.db)
        #expect(try ChainSpanCheck.adoptHeads(restarted).isEmpty)
        #expect(restarted.writtenHeads.head("default")?.seq == 40)
        try Self.appendOne(restarted)
        // Stopped, then a row of the unsigned span edited: the next start refuses the cluster.
        try lab.behindTheBack(
            "con.execute(\"UPDATE kubetrail_audit_rows SET user_name = 'mallory' WHERE rowid = (SELECT row_rowid FROM kubetrail_audit_chain ORDER BY seq DESC LIMIT 1)\")"
        )
        let again = try SQLiteStore(path: lab.db)
        let refused = try ChainSpanCheck.adoptHeads(again)
        #expect(refused["default"]?.contains { $0.contains("was modified") } == true, "\(refused)")
        #expect(throws: ChainTampered.self) { try Self.appendOne(again) }
    }

    @Test func retentionAndOrdinaryAppendsAreNotTampering() throws {
        let lab = try Lab()
        for round in 0..<3 {
            try lab.digest()
            for _ in 0..<(round + 1) { try Self.appendOne(lab.store) }
        }
        // Every audit row is old: retention deletes up to the signed cutoff and prunes the chain.
        try lab.digest(retention: 1)
        let cutoff = try lab.store.write { try $0.signedAuditRetentionCutoff() }
        try lab.store.write { w in
            _ = try w.deleteOlder(in: AuditLogRow.schema, than: cutoff!, limit: 10_000)
            try w.pruneAuditChain(olderThan: cutoff!)
        }
        try Self.appendOne(lab.store)
        try lab.digest(retention: 1)
        let report = try lab.verify()
        #expect(report.findings.isEmpty, "\(report.findings)")
    }

    @Test(arguments: TestBackend.allCases) func aConflictingEventUnderAStoredAuditIDIsKeptAndReported(backend: TestBackend) throws {
        let lab = try Lab(backend)
        try Self.appendOne(lab.store, auditID: "forged-first")
        // The same event again (another source, another moment) is a duplicate…
        try Self.appendOne(lab.store, auditID: "forged-first")
        #expect(try lab.store.auditConflicts().total == 0)
        // …a different event under the same auditID and stage is a conflict, kept whole.
        let genuine =
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"forged-first","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"get","user":{"username":"system:admin"},"sourceIPs":["10.0.0.9"],"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-12-01T10:00:00.000000Z","stageTimestamp":"2026-12-01T10:00:00.100000Z"}"#
        var outcome: SQLiteTransaction.Outcome?
        AuditDecoder.decode(Array(genuine.utf8), context: IngestContext(clusterName: nil, sourceType: .auditWebhook, sourceName: "kube-apiserver")) { o in
            if case .row(let r) = o { outcome = try? lab.store.write { try $0.insert(r) } }
        }
        #expect(outcome == .conflict)
        let conflicts = try lab.store.auditConflicts()
        #expect(conflicts.total == 1 && conflicts.conflicts[0].auditID == "forged-first")
        #expect(conflicts.conflicts[0].row.contains("kube-system/secrets") && conflicts.conflicts[0].conflictingSource.contains("audit_webhook"))
        try lab.digest()
        let report = try lab.verify()
        #expect(report.findings.map(\.kind) == [.conflict], "\(report.findings)")
    }

    @Test func aWipedStoreOrADroppedClusterDoesNotVerify() throws {
        let lab = try Lab()
        try lab.importAudit("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log", cluster: "prod")
        try lab.digest()
        // One cluster removed whole, digests and all: the other cluster's digest still names it.
        try lab.behindTheBack(
            """
            for t in ("kubetrail_audit_rows", "kubetrail_audit_chain", "kubetrail_audit_digests"):
                con.execute(f"DELETE FROM {t} WHERE {'tp_index' if t == 'kubetrail_audit_rows' else 'cluster'} = 'prod'")
            """)
        let report = try lab.verify(offHost: false)
        #expect(report.dropped.map(\.kind) == [.dropped], "\(report.findings)")
        #expect(report.dropped.first?.message.contains("cluster prod is named by cluster default's digest #1") == true)
        let pub = lab.dir.path("key.pub")
        try lab.key.publicKey.rawRepresentation.base64EncodedString().write(toFile: pub, atomically: true, encoding: .utf8)
        let dropped = try Subprocess.kubetrail(["verify", "--db", lab.db, "--public-key", pub])
        #expect(dropped.status == 1 && dropped.stdout.contains("removed whole"), "\(dropped.stdout)\(dropped.stderr)")

        // Everything wiped: "empty" is a failure unless a new store is expected.
        try lab.behindTheBack(
            """
            for t in ("kubetrail_audit_rows", "kubetrail_audit_chain", "kubetrail_audit_digests"):
                con.execute(f"DELETE FROM {t}")
            """)
        let wiped = try Subprocess.kubetrail(["verify", "--db", lab.db, "--public-key", pub])
        #expect(wiped.status == 1 && wiped.stderr.contains("the audit chain is empty"), "\(wiped.stdout)\(wiped.stderr)")
        #expect(try Subprocess.kubetrail(["verify", "--db", lab.db, "--public-key", pub, "--allow-empty"]).status == 0)
        // No trusted key: refused unless signatures are knowingly skipped.
        let unkeyed = try Subprocess.kubetrail(["verify", "--db", lab.db, "--allow-empty"])
        #expect(unkeyed.status == 2 && unkeyed.stderr.contains("--public-key"), "\(unkeyed.stderr)")
        #expect(try Subprocess.kubetrail(["verify", "--db", lab.db, "--allow-empty", "--skip-signatures"]).status == 0)
    }
}
