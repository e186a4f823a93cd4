import Foundation
import Testing
import TestSupport

/// Runs a command and returns its result plus the child's peak resident memory in KiB.
func runMeasuringRSS(_ arguments: [String]) throws -> (ProcessResult, Int) {
    let script =
        "import resource, subprocess, sys\np = subprocess.run(sys.argv[1:], capture_output=True)\nsys.stdout.buffer.write(p.stdout)\nsys.stderr.buffer.write(p.stderr)\nprint('RSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\nsys.exit(p.returncode)"
    let r = try Subprocess.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script] + arguments)
    let rss = r.stdout.split(separator: "\n").last(where: { $0.hasPrefix("RSS ") }).flatMap { Int($0.dropFirst(4)) } ?? -1
    return (r, rss)
}

@Suite(.serialized) struct ImportRobustnessTests {
    @Test func gzipBombIsSkippedInBoundedMemory() throws {
        let dir = try TemporaryDirectory()
        let bomb = dir.path("bomb.log.gz")
        // 512 MiB of zeros (no newline: one enormous line) in about half a megabyte.
        let made = try Subprocess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "head -c 536870912 /dev/zero | gzip -1 > '\(bomb)'"])
        #expect(made.status == 0)
        let (r, rss) = try runMeasuringRSS([Subprocess.productURL("kubetrail").path, "import", "audit", bomb, "--db", dir.path("k.db")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("oversized record"))
        #expect(rss > 0 && rss < 200 * 1024, "peak RSS \(rss) KiB")
    }

    @Test func unreadableFileIsReportedAndTheOthersImported() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: dir.url.path)
        let lines = try Fixtures.text("audit/openshift/clo_apiaudit_audit.log").split(separator: "\n")
        try dir.write("in/a.log", lines[0] + "\n" + lines[1] + "\n")
        let secret = try dir.write("in/b.log", lines[2] + "\n")
        try dir.write("in/c.log", lines[3] + "\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: secret)
        try FileManager.default.createDirectory(atPath: dir.path("in/d.log"), withIntermediateDirectories: true)  // a directory named like a log
        for sub in ["", "in"] { try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: dir.path(sub)) }
        // As an unprivileged user, for whom b.log cannot be opened.
        let r = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/setpriv"),
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", Subprocess.productURL("kubetrail").path,
                "import", "audit", dir.path("in"), "--db", dir.path("k.db")
            ])
        #expect(r.status == 1)
        #expect(r.stderr.contains("b.log: Permission denied"), "\(r.stderr)")
        #expect(r.stdout.contains("from 3 files"), "\(r.stdout)")
        #expect(lastNumber(r.stdout, "stored") == 3)
        #expect(r.stdout.contains("unreadable     1 file"))
    }

    @Test func aLineStillBeingWrittenIsCompletedOnReimportNotDuplicated() throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("k.db")
        let path = dir.path("pods/ns_web_uid-1/app/0.log")
        try dir.write(
            "pods/ns_web_uid-1/app/0.log",
            "2026-11-27T10:00:00Z stdout F first line\n2026-11-27T10:00:01Z stdout P long line, part one; \n2026-11-27T10:00:01Z stdout F part tw")
        let first = try Subprocess.kubetrail(["import", "pod-logs", path, "--db", db])
        #expect(lastNumber(first.stdout, "stored") == 2)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("o\n2026-11-27T10:00:02Z stdout F third\n".utf8))
        try handle.close()
        let second = try Subprocess.kubetrail(["import", "pod-logs", path, "--db", db])
        #expect(lastNumber(second.stdout, "stored") == 1)
        #expect(lastNumber(second.stdout, "updated") == 1)
        #expect(lastNumber(second.stdout, "duplicates") == 1)
        let rows = try Subprocess.kubetrail([
            "query", "--db", db, "--output", "csv", "SELECT log_message, log_partial FROM kubernetes_pod_logs ORDER BY timestamp"
        ]).stdout
        #expect(rows == "log_message,log_partial\nfirst line,0\n\"long line, part one; part two\",0\nthird,0\n")
    }

    @Test func oversizedLineInsideAPrettyDocumentRejectsThatDocument() throws {
        let dir = try TemporaryDirectory()
        let pretty = try Fixtures.text("audit/openshift/clo_logsamples_raw_audit_kubernetes.json")
        let broken = "{\n  \"auditID\": \"big\",\n  \"pad\": \"" + String(repeating: "x", count: 20_000) + "\",\n  \"stage\": \"ResponseComplete\"\n}\n"
        let path = try dir.write("mixed.json", broken + pretty + "\n")
        let r = try Subprocess.kubetrail(["import", "audit", path, "--db", dir.path("k.db"), "--max-line-bytes", "10000"])
        #expect(r.status == 0)
        #expect(lastNumber(r.stdout, "stored") == 1)
        #expect(r.stderr.contains("mixed.json:1: JSON document with a line of"), "\(r.stderr)")
    }

    @Test func failureAfterSomeCommitsReportsExactlyWhatIsStored() throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("k.db")
        let source = try Fixtures.text("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").split(separator: "\n")
        var text = ""
        for copy in 0..<40 { for line in source { text += line.replacingOccurrences(of: "\"auditID\":\"", with: "\"auditID\":\"\(copy)-") + "\n" } }
        let big = try dir.write("big.log", text)
        let kubetrail = Subprocess.productURL("kubetrail").path
        let r = try Subprocess.run(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", "trap '' XFSZ; ulimit -f 16384; exec '\(kubetrail)' import audit '\(big)' --db '\(db)' --rows-per-transaction 200"])
        #expect(r.status == 1)
        let reported = try #require(lastNumber(r.stdout, "stored"))
        #expect(reported > 0 && reported < 4000, "\(r.stdout)")
        #expect(reported % 200 == 0)
        #expect(try count(db, "SELECT COUNT(*) FROM kubernetes_audit_logs") == reported)
    }
}
