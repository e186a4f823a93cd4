import Foundation
import Testing
import TestSupport

/// The aggregator writes signed digests of the audit chain on its own (at the interval, and on
/// shutdown), to the store and to a directory; `kubetrail verify` checks the trail with them.
@Suite struct AuditDigestTests {
    @Test(arguments: TestBackend.allCases) func aggregatorSignsDigestsAndVerifyUsesThem(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let copies = f.dir.path("off-host")
        let server = try f.start(["--digest-interval", "1s", "--digest-directory", copies])
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        // At least two digests at the interval, then a last one on SIGTERM.
        var files: [String] = []
        for _ in 0..<100 {
            files = (try? FileManager.default.contentsOfDirectory(atPath: copies + "/test")) ?? []
            if files.count >= 2 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(files.count >= 2, "\(files)")
        server.stop()
        // On SQLite the key is made beside the database; on PostgreSQL every replica is given one.
        let key = f.dir.path(backend == .sqlite ? "audit-digest.key" : "digest.key")
        let mode = (try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
        let ok = try Subprocess.kubetrail(["verify", "--db", f.db, "--public-key", key + ".pub", "--digests", copies])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("cluster test: 100 chain entries checked") && ok.stdout.contains(": OK"), "\(ok.stdout)")
        #expect(!ok.stdout.contains("not yet signed"), "the shutdown digest covers the last rows: \(ok.stdout)")

        try TestBackend.behindTheBack(
            f.db,
            backend == .sqlite
                ? "UPDATE kubetrail_audit_rows SET verb = 'tampered' WHERE rowid = 7"
                : "UPDATE kubernetes_audit_logs SET verb = 'tampered' WHERE tp_id = (SELECT tp_id FROM kubetrail_audit_chain ORDER BY seq OFFSET 6 LIMIT 1)")
        let bad = try Subprocess.kubetrail(["verify", "--db", f.db, "--public-key", key + ".pub", "--digests", copies])
        #expect(bad.status == 1 && bad.stdout.contains("modified: row") && bad.stdout.contains("(seq 7,"), "\(bad.stdout)")
        let flags = try Subprocess.kubetrail(["verify", "--db", f.db, "--skip-signatures", "--from", "yesterday"])
        #expect(flags.status == 2 && flags.stderr.contains("--from"), "\(flags.stderr)")
    }
}
