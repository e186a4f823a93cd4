import Foundation
import KubetrailCore
import KubetrailImport
import KubetrailIntegrity
import KubetrailStore
import KubetrailTables
import Testing
import TestSupport

/// The audit chain and its signed digests against tampering done behind kubetrail's back with
/// SQLite itself: UPDATE, DELETE and INSERT on the rows; rewriting the chain to match; removing,
/// editing and re-signing digests; gaps in time; and retention, which must not look like tampering.
@Suite struct ChainVerifierTests {
    struct Lab {
        let dir: TemporaryDirectory
        let backend: TestBackend
        /// `--db`'s value: the SQLite file, or a PostgreSQL database of the test's own.
        let db: String
        let store: any Store
        let key = Curve25519PrivateKey()
        var offHost: String { dir.path("digests") }
        /// Where the audit rows are: SQLite's table behind the view, PostgreSQL's table itself.
        var rowsTable: String { backend == .sqlite ? "kubetrail_audit_rows" : "kubernetes_audit_logs" }

        init(_ backend: TestBackend = .sqlite) throws {
            dir = try TemporaryDirectory()
            self.backend = backend
            db = try backend.location(in: dir, name: "kt.db")
            store = try StoreLocation(parsing: db).open(.readWrite)
            try importAudit("audit/audit2rbac_demo.log", cluster: nil)
        }

        func importAudit(_ fixture: String, cluster: String?) throws {
            _ = try Importer(store: store, options: .init(kind: .audit, clusterName: cluster)).run(InputFiles.expand([Fixtures.url(fixture).path]))
        }

        func digest(at now: Timestamp = .now, retention: Double? = nil, key: Curve25519PrivateKey? = nil) throws {
            try DigestWriter(key: key ?? self.key, interval: 300, retention: retention, directory: offHost).write(store, now: now)
        }

        func verify(key: Curve25519PublicKey? = nil, offHost: Bool = true, from: Timestamp? = nil, to: Timestamp? = nil) throws -> ChainVerifier.Report {
            let copies = offHost ? try DigestWriter.load(directory: self.offHost) : nil
            return try ChainVerifier(
                store: StoreLocation(parsing: db).open(.readOnly), publicKey: key ?? self.key.publicKey, offHost: copies, from: from, to: to
            ).run()
        }

        /// Plain SQL run past kubetrail on either backend (sqlite3 from Python, psql).
        func sql(_ statements: String) throws { try TestBackend.behindTheBack(db, statements) }

        /// SQL run by Python's sqlite3 module: the store's own engine, none of kubetrail's code.
        func behindTheBack(_ script: String) throws {
            let r = try Subprocess.run(
                URL(fileURLWithPath: "/usr/bin/python3"),
                [
                    "-c",
                    """
                    import sqlite3, hashlib, sys
                    con = sqlite3.connect(sys.argv[1])
                    def field(b):
                        return len(b).to_bytes(4, 'little') + b
                    def relink(cluster):
                        # docs/integrity.md: SHA-256(previous || SHA-256(cluster, tp_id, tp_timestamp, row_hash))
                        prev = bytes(32)
                        for seq, tp_id, ts, row_hash in con.execute("SELECT seq, tp_id, tp_timestamp, row_hash FROM kubetrail_audit_chain WHERE cluster = ? ORDER BY seq", (cluster,)).fetchall():
                            entry = hashlib.sha256(field(cluster.encode()) + field(tp_id.encode()) + field(ts.encode()) + field(row_hash)).digest()
                            prev = hashlib.sha256(prev + entry).digest()
                            con.execute("UPDATE kubetrail_audit_chain SET chain_hash = ? WHERE seq = ?", (prev, seq))
                    \(script)
                    con.commit()
                    """, db
                ])
            guard r.status == 0 else { throw ServerError(r.stderr) }
        }

        func count(_ sql: String) throws -> Int {
            let r = try Subprocess.run(
                URL(fileURLWithPath: "/usr/bin/python3"),
                ["-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])", db, sql])
            return Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }

        func id(rowid: Int) throws -> String {
            let r = try Subprocess.run(
                URL(fileURLWithPath: "/usr/bin/python3"),
                [
                    "-c",
                    "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT tp_id FROM kubetrail_audit_rows WHERE rowid = \(rowid)').fetchone()[0])",
                    db
                ])
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
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
        #expect(report.clusters[0].digestsChecked == 2 && report.clusters[0].unsignedTail == 0)
    }

    @Test func updateDeleteAndInsertBehindTheBackAreEachNamed() throws {
        let lab = try Lab()
        try lab.digest()
        let (changed, removed) = (try lab.id(rowid: 5), try lab.id(rowid: 9))
        try lab.behindTheBack(
            """
            con.execute("UPDATE kubetrail_audit_rows SET user_name = 'someone-else' WHERE rowid = 5")
            con.execute("DELETE FROM kubetrail_audit_rows WHERE rowid = 9")
            cols = [r[1] for r in con.execute("PRAGMA table_info(kubetrail_audit_rows)")]
            sel = ", ".join("'forged-row'" if c == "tp_id" else c for c in cols)
            con.execute(f"INSERT INTO kubetrail_audit_rows ({', '.join(cols)}) SELECT {sel} FROM kubetrail_audit_rows WHERE rowid = 1")
            """)
        let report = try lab.verify()
        // The forged row kept row 1's key: it is named as inserted and as rekeyed.
        #expect(Self.kinds(report) == ["deleted", "inserted", "modified", "modified"], "\(report.findings)")
        #expect(report.rekeyed.map(\.message).joined().contains("row forged-row: its key"), "\(report.rekeyed)")
        let text = report.findings.map(\.message).joined(separator: "\n")
        #expect(text.contains("row \(changed) (seq 5") && text.contains("was modified"))
        #expect(text.contains("row \(removed) (seq 9") && text.contains("was deleted"))
        #expect(text.contains("row forged-row") && text.contains("not in the chain"))
    }

    @Test func rewritingTheChainToHideADeletionBreaksTheSignedHead() throws {
        let lab = try Lab()
        try lab.digest()
        // Delete a row and its chain entry, then re-link every later chain hash: the chain is
        // consistent again, but no longer ends at the head the digest signed.
        try lab.behindTheBack(
            """
            tp_id = con.execute("SELECT tp_id FROM kubetrail_audit_rows WHERE rowid = 9").fetchone()[0]
            con.execute("DELETE FROM kubetrail_audit_rows WHERE tp_id = ?", (tp_id,))
            con.execute("DELETE FROM kubetrail_audit_chain WHERE tp_id = ?", (tp_id,))
            relink('default')
            """)
        let report = try lab.verify()
        #expect(Self.kinds(report).allSatisfy { $0 == "digest" } && !report.findings.isEmpty, "\(report.findings)")
        #expect(report.findings.map(\.message).joined().contains("does not match digest #1's signed head"))
        // Without re-linking, the break itself is found at the entry after the removed one.
        let lab2 = try Lab()
        try lab2.behindTheBack(
            "con.execute(\"DELETE FROM kubetrail_audit_chain WHERE seq = 9\")\ncon.execute(\"DELETE FROM kubetrail_audit_rows WHERE rowid = 9\")")
        let r2 = try lab2.verify()
        #expect(r2.findings.map(\.message).contains { $0.contains("chain entry seq 10") && $0.contains("does not follow") }, "\(r2.findings)")
    }

    @Test(arguments: TestBackend.allCases) func removedEditedAndForeignDigestsAreReported(backend: TestBackend) throws {
        let lab = try Lab(backend)
        let t0 = Timestamp.now
        for i in 0..<3 { try lab.digest(at: t0.adding(microseconds: Int64(i) * 60_000_000)) }
        try lab.sql(
            """
            DELETE FROM kubetrail_audit_digests WHERE number = 2;
            UPDATE kubetrail_audit_digests SET document = replace(document, '"entries":0', '"entries":5') WHERE number = 3;
            """)
        let report = try lab.verify(offHost: false)
        let text = report.findings.map(\.description).joined(separator: "\n")
        #expect(text.contains("gap: digests #2–#2 are missing"), "\(text)")
        #expect(text.contains("signature: digest #3") && text.contains("the digest was altered"), "\(text)")
        // The off-host copy still has #2 and the original #3.
        let withCopy = try lab.verify().findings.map(\.description).joined(separator: "\n")
        #expect(
            withCopy.contains("digest #2") && withCopy.contains("missing from the store") && withCopy.contains("digest #3 in the store differs"), "\(withCopy)")
        let other = Curve25519PrivateKey().publicKey
        #expect(try lab.verify(key: other).findings.contains { $0.kind == .signature && $0.message.contains("signed with another key") })
    }

    @Test func aStoreRewrittenAndReSignedWithTheHostKeyIsCaughtOnlyByTheOffHostCopy() throws {
        let lab = try Lab()
        try lab.digest()
        try lab.behindTheBack(
            """
            tp_id = con.execute("SELECT tp_id FROM kubetrail_audit_rows WHERE rowid = 3").fetchone()[0]
            con.execute("DELETE FROM kubetrail_audit_rows WHERE tp_id = ?", (tp_id,))
            con.execute("DELETE FROM kubetrail_audit_chain WHERE tp_id = ?", (tp_id,))
            relink('default')
            con.execute("DELETE FROM kubetrail_audit_digests")
            """)
        // The attacker holds the host's key and re-signs from a process of their own (the
        // aggregator's would refuse: its writer kept the head it wrote); their digests go to the
        // store only.
        try DigestWriter(key: lab.key, interval: 300, retention: nil, directory: nil).write(try SQLiteStore(path: lab.db))
        #expect(try lab.verify(offHost: false).findings.isEmpty, "the honest limit: a self-consistent rewrite passes without the off-host copy")
        let caught = try lab.verify().findings.map(\.description).joined(separator: "\n")
        #expect(caught.contains("digest #1 in the store differs from the off-host copy"), "\(caught)")
        #expect(caught.contains("does not match digest #1's signed head"), "\(caught)")
        // The running aggregator's writer kept the head it wrote: it signs that, not the rewrite.
        #expect(throws: IntegrityError.self) { try lab.digest() }
        #expect(try lab.verify(offHost: false).findings.contains { $0.message.contains("changed behind its back") })
    }

    @Test(arguments: TestBackend.allCases) func aPeriodWithQuietDigestsVerifiesFromItsAnchor(backend: TestBackend) throws {
        let lab = try Lab(backend)
        let t0 = Timestamp.now
        try lab.digest(at: t0)
        // Two digests with nothing new, then more rows and a digest covering them.
        try lab.digest(at: t0.adding(microseconds: 60_000_000))
        try lab.digest(at: t0.adding(microseconds: 120_000_000))
        try lab.importAudit("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log", cluster: nil)
        try lab.digest(at: t0.adding(microseconds: 180_000_000))
        let report = try lab.verify(from: t0.adding(microseconds: 30_000_000), to: t0.adding(microseconds: 150_000_000))
        #expect(report.findings.isEmpty, "\(report.findings)")
        #expect(report.clusters[0].entriesChecked == 100 && report.clusters[0].firstDigest == 2 && report.clusters[0].lastDigest == 4)
        // A row of the period changed: found within the window.
        try lab.sql("UPDATE \(lab.rowsTable) SET verb = 'x' WHERE tp_id = (SELECT tp_id FROM kubetrail_audit_chain WHERE seq = 60)")
        #expect(try lab.verify(from: t0.adding(microseconds: 30_000_000)).findings.map(\.kind) == [.modified])
    }

    /// A repeated value is stored once, in a dictionary: rewriting it there rewrites every row
    /// that holds it, and each of those rows is reported.
    @Test func aRewrittenDictionaryValueIsFoundInEveryRowHoldingIt() throws {
        let lab = try Lab()
        try lab.digest()
        #expect(try lab.verify().findings.isEmpty)
        try lab.behindTheBack(
            """
            con.execute("UPDATE kubetrail_values_list SET value = '[\\"system:masters\\"]' WHERE id = (SELECT user_groups_ref FROM kubetrail_audit_rows WHERE rowid = 3)")
            """)
        let holding = try lab.count(
            "SELECT count(*) FROM kubetrail_audit_rows WHERE user_groups_ref = (SELECT user_groups_ref FROM kubetrail_audit_rows WHERE rowid = 3)")
        #expect(holding > 1)
        let findings = try lab.verify().findings
        #expect(findings.count == holding && findings.allSatisfy { $0.kind == .modified }, "\(findings)")
    }

    /// `tp_key` is not chained; a rewritten one is found by comparing it with its `tp_id`.
    @Test func aRewrittenKeyIsNamed() throws {
        let lab = try Lab()
        try lab.digest()
        #expect(try lab.verify().findings.isEmpty)
        let id = try lab.id(rowid: 3)
        try lab.behindTheBack("con.execute(\"UPDATE kubetrail_audit_rows SET tp_key = tp_key + 1 WHERE rowid = 3\")")
        let report = try lab.verify()
        #expect(report.findings.map(\.kind) == [.modified], "\(report.findings)")
        #expect(report.findings.first?.message.contains("row \(id): its key (tp_key) is not its tp_id's") == true, "\(report.findings)")
    }

    @Test(arguments: TestBackend.allCases) func cuttingTheChainsBeginningWithoutRetentionIsDeletion(backend: TestBackend) throws {
        let lab = try Lab(backend)
        try lab.digest()
        try lab.importAudit("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log", cluster: nil)
        try lab.digest()
        // Everything up to digest #1 removed, rows and chain entries, as retention would — but
        // no signed cutoff allows it (and these rows are not old by any).
        try lab.sql(
            """
            DELETE FROM \(lab.rowsTable) WHERE tp_id IN (SELECT tp_id FROM kubetrail_audit_chain WHERE seq <= 37);
            DELETE FROM kubetrail_audit_chain WHERE seq <= 37;
            """)
        let report = try lab.verify()
        #expect(report.findings.contains { $0.kind == .chain && $0.message.contains("seq 38") }, "\(report.findings)")
        #expect(report.findings.contains { $0.kind == .digest && $0.message.contains("digest #1") && $0.message.contains("missing") }, "\(report.findings)")
    }

    @Test(arguments: TestBackend.allCases) func backdatingAChainEntryToPassForExpiredBreaksTheChain(backend: TestBackend) throws {
        let lab = try Lab(backend)
        let now = Timestamp.now
        try lab.importAudit("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log", cluster: nil)
        try lab.digest(at: now, retention: 400 * 86_400)  // the 2017 rows are past it, the 2023 ones not
        try lab.sql(
            """
            DELETE FROM \(lab.rowsTable) WHERE tp_id = (SELECT tp_id FROM kubetrail_audit_chain WHERE seq = 60);
            UPDATE kubetrail_audit_chain SET tp_timestamp = '2000-01-01T00:00:00.000000Z' WHERE seq = 60;
            """)
        let report = try lab.verify()
        #expect(report.findings.contains { $0.kind == .chain && $0.message.contains("seq 60") }, "\(report.findings)")
    }

    @Test(arguments: TestBackend.allCases) func theOldestDigestsRemovedAreAGap(backend: TestBackend) throws {
        let lab = try Lab(backend)
        for _ in 0..<3 { try lab.digest() }
        try lab.sql("DELETE FROM kubetrail_audit_digests WHERE number <= 2")
        let report = try lab.verify(offHost: false)
        #expect(report.findings.contains { $0.kind == .gap && $0.message.contains("digests #1–#2 are missing") }, "\(report.findings)")
    }

    @Test func aNulInsideAValueHashesAsWritten() throws {
        let lab = try Lab()
        let event =
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"nul-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/pods/a%00b","verb":"get","user":{"username":"u\u0000v"},"objectRef":{"resource":"pods","namespace":"d","name":"a\u0000b"},"stageTimestamp":"2026-11-27T10:00:00.000000Z"}"#
        let file = try lab.dir.write("nul.log", event + "\n")
        _ = try Importer(store: lab.store, options: .init(kind: .audit)).run(InputFiles.expand([file]))
        try lab.digest()
        let report = try lab.verify()
        #expect(report.findings.isEmpty && report.clusters[0].entriesChecked == 38, "\(report.findings)")
    }

    @Test(arguments: TestBackend.allCases) func aRowSentAgainAfterRetentionIsANewCommitAndIngestGoesOn(backend: TestBackend) throws {
        let lab = try Lab(backend)
        try lab.digest()
        let cutoff = Timestamp.now.adding(microseconds: -30 * 86_400_000_000)
        _ = try lab.store.write { try $0.deleteOlder(in: AuditLogRow.schema, than: cutoff, limit: 1000) }
        // The same events again from another file (an agent resending after the rows expired):
        // stored again as new commits with new entries; the old entries count as expired.
        let again = try lab.dir.write("again.log", try Fixtures.data("audit/audit2rbac_demo.log") + Data("\n".utf8))
        let summary = try Importer(store: lab.store, options: .init(kind: .audit)).run(InputFiles.expand([again]))
        #expect(summary.stored == 37, "\(summary)")
        try lab.digest(retention: 30 * 86_400)
        let report = try lab.verify()
        #expect(report.findings.isEmpty && report.clusters[0].entriesChecked == 74 && report.clusters[0].rowsExpired == 37, "\(report.findings)")
    }

    @Test(arguments: TestBackend.allCases) func aLongSilenceBetweenDigestsIsAGap(backend: TestBackend) throws {
        let lab = try Lab(backend)
        let t0 = Timestamp.now
        try lab.digest(at: t0)
        try lab.digest(at: t0.adding(microseconds: 7_200_000_000))
        let report = try lab.verify()
        #expect(report.findings.count == 1 && report.findings[0].kind == .gap && report.findings[0].message.contains("120 min"), "\(report.findings)")
    }

    @Test(arguments: TestBackend.allCases) func retentionIsNotMistakenForTampering(backend: TestBackend) throws {
        let lab = try Lab(backend)
        try lab.digest()
        // The fixture is from 2017: a 30-day retention removes every row, then the chain's prefix.
        let cutoff = Timestamp.now.adding(microseconds: -30 * 86_400_000_000)
        let deleted = try lab.store.write { try $0.deleteOlder(in: AuditLogRow.schema, than: cutoff, limit: 1000) }
        #expect(deleted == 37)
        // A digest made between the deletion and the prune: rows gone, entries still there.
        try lab.digest(retention: 30 * 86_400)
        let between = try lab.verify()
        #expect(between.findings.isEmpty && between.clusters[0].rowsExpired == 37, "\(between.findings)")
        #expect(try lab.store.write { try $0.pruneAuditChain(olderThan: cutoff) } == 37)
        // An idle cluster emptied by retention: nothing to walk, nothing missing.
        let emptied = try lab.verify()
        #expect(emptied.findings.isEmpty && emptied.clusters[0].entriesChecked == 0, "\(emptied.findings)")
        try lab.importAudit("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log", cluster: nil)
        try lab.digest(retention: 30 * 86_400)
        let after = try lab.verify()
        #expect(after.findings.isEmpty, "\(after.findings)")
        #expect(after.clusters[0].entriesChecked == 100)
    }
}
