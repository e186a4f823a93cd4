import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct ImportFailureTests {
    /// A file-size limit with SIGXFSZ ignored makes writes fail with EFBIG, as a full disk does.
    @Test func fullDiskIsAClearErrorAndCommittedRowsSurvive() throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("full.db")
        let big = dir.path("big.log")
        // Enough distinct events to need far more than the limit allows.
        let source = try Fixtures.text("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").split(separator: "\n")
        var text = ""
        for copy in 0..<40 {
            for line in source { text += line.replacingOccurrences(of: "\"auditID\":\"", with: "\"auditID\":\"\(copy)-") + "\n" }
        }
        try text.write(toFile: big, atomically: false, encoding: .utf8)
        let kubetrail = Subprocess.productURL("kubetrail").path
        // 8 MiB: the schema fits, a few thousand of these ~8 KB events do not.
        let r = try Subprocess.run(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", "trap '' XFSZ; ulimit -f 16384; exec '\(kubetrail)' import audit '\(big)' --db '\(db)'"])
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.hasPrefix("Error: "), "\(r.stderr)")
        #expect(r.stderr.contains("cannot write \(db)"), "\(r.stderr)")
        #expect(r.stderr.contains("disk full"), "\(r.stderr)")
        let reported = lastNumber(r.stdout, "stored")
        // The database is intact and holds whole batches only.
        let check = try Subprocess.kubetrail([
            "query", "--db", db, "--output", "csv",
            "SELECT (SELECT integrity_check FROM pragma_integrity_check) AS ok, COUNT(*) AS n FROM kubernetes_audit_logs"
        ])
        #expect(check.status == 0, "\(check.stderr)")
        let fields = check.stdout.split(separator: "\n").last?.split(separator: ",") ?? []
        #expect(fields.first == "ok")
        let stored = Int(fields.last ?? "") ?? -1
        #expect(stored >= 0 && stored < 4000)
        #expect(reported == stored)  // the summary says exactly what was committed
    }

    @Test func progressBarOnATerminalOnly() throws {
        let dir = try TemporaryDirectory()
        let file = Fixtures.url("audit/audit2rbac_demo_original_v1beta1_757lines.log").path
        let tty = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/script"),
            ["-qec", "\(Subprocess.productURL("kubetrail").path) import audit \(file) --db \(dir.path("a.db"))", "/dev/null"])
        #expect(tty.stdout.contains("audit2rbac_demo_original_v1beta1_757lines.log"))
        #expect(tty.stdout.contains("%"))
        #expect(tty.stdout.contains("stored         757"))
        let piped = try Subprocess.kubetrail(["import", "audit", file, "--db", dir.path("b.db")])
        #expect(!piped.stderr.contains("%"))
        #expect(piped.stderr.isEmpty)
    }
}
