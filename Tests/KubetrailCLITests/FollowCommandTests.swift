import Foundation
import Testing
import TestSupport

/// `kubetrail logs` and `kubetrail tail` on the local store: filters, output, refusals, and a
/// follow of a SQLite file while `import` writes it.
@Suite(.serialized) struct FollowCommandTests {
    /// A kubelet-style log tree: one pod's container with lines of known levels and content.
    func podLogs(_ dir: TemporaryDirectory) throws -> String {
        let podDir = dir.path("var/log/pods/shop_web-1_uid-1/app")
        try FileManager.default.createDirectory(atPath: podDir, withIntermediateDirectories: true)
        let lines = [
            "2026-11-27T10:00:00.000000001Z stdout F level=info msg=\"started\"",
            "2026-11-27T10:00:01.000000001Z stderr F level=error msg=\"disk 50% full\"",
            "2026-11-27T10:00:02.000000001Z stdout F level=info msg=\"5_0 percent\"",
            "2026-11-27T10:00:03.000000001Z stderr F level=error msg=\"gave up\""
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: podDir + "/0.log", atomically: true, encoding: .utf8)
        return podDir + "/0.log"
    }

    @Test(arguments: TestBackend.allCases) func logsPrintsTheHistoryFiltered(backend: TestBackend) throws {
        let dir = try TemporaryDirectory()
        let db = try backend.location(in: dir)
        let imported = try Subprocess.kubetrail(["import", "pod-logs", try podLogs(dir), "--db", db])
        #expect(imported.status == 0, "\(imported.stderr)")
        func logs(_ extra: [String]) throws -> (status: Int32, lines: [Substring], stderr: String) {
            let r = try Subprocess.kubetrail(["logs", "--db", db, "--since", "2026-01-01T00:00:00Z"] + extra)
            return (r.status, r.stdout.split(separator: "\n"), r.stderr)
        }
        let all = try logs([])
        #expect(all.status == 0 && all.lines.count == 4, "\(all.stderr)")
        #expect(all.lines.first == "shop/web-1/app level=info msg=\"started\"")  // no colour off a terminal
        #expect(try logs(["web-*"]).lines.count == 4)
        #expect(try logs(["web?1", "-c", "a*"]).lines.count == 4)
        #expect(try logs(["web_1"]).lines.isEmpty)  // `_` is a character here, not LIKE's wildcard
        #expect(try logs(["-n", "other"]).lines.isEmpty)
        #expect(try logs(["--level", "error"]).lines.map { $0.hasSuffix("gave up\"") || $0.contains("50%") } == [true, true])
        #expect(try logs(["--grep", "50%"]).lines.count == 1)  // `%` is text, not a wildcard
        #expect(try logs(["--grep", "5_0"]).lines.count == 1)
        #expect(try logs(["--grep", "o'clock"]).lines.isEmpty)  // a quote in the text is a value, not SQL
        #expect(try logs(["--timestamps", "--level", "error"]).lines.first?.hasPrefix("2026-11-27T10:00:01.000000") == true)
        let json = try logs(["-o", "json", "--grep", "gave up"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.lines.first!.utf8)) as? [String: Any])
        #expect(object["log_level"] as? String == "ERROR" && object["pod_name"] as? String == "web-1" && object["stream"] as? String == "stderr")
        let bad = try logs(["--level", "loud"])
        #expect(bad.status == 1 && bad.stderr.contains("--level must be one of"))
        #expect(try logs(["--since", "soon"]).status == 1)
    }

    @Test func tailRefusesWhatItCannotFollow() throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("t.db")
        #expect(try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", db]).status == 0)
        let table = try Subprocess.kubetrail(["tail", "kubernetes_detections", "--db", db])
        #expect(table.status == 2 && table.stderr.contains("cannot be followed"))
        let condition = try Subprocess.kubetrail(["tail", "kubernetes_audit_logs", "--db", db, "--where", "1=1); DROP TABLE x; --"])
        #expect(condition.status == 2 && condition.stderr.contains("--where"))
        let column = try Subprocess.kubetrail(["tail", "kubernetes_audit_logs", "--db", db, "--where", "no_such_column = 1"])
        #expect(column.status == 1 && column.stderr.contains("no_such_column"))
        try dir.write("bad.cursor", "not a cursor\n")
        let cursor = try Subprocess.kubetrail(["tail", "kubernetes_audit_logs", "--db", db, "--cursor-file", dir.path("bad.cursor")])
        #expect(cursor.status == 1 && cursor.stderr.contains("does not hold a cursor"))
        let server = try Subprocess.kubetrail(["tail", "kubernetes_audit_logs", "--server", "http://127.0.0.1:1"])
        #expect(server.status == 1 && server.stderr.contains("--token-file"))
    }

    /// The follower reads the SQLite file while `import` writes it (WAL: a reader sees whole
    /// commits), and a second import's rows follow the first's, none twice.
    @Test(arguments: TestBackend.allCases) func tailFollowsTheStoreWhileImportWritesIt(backend: TestBackend) throws {
        let dir = try TemporaryDirectory()
        let db = try backend.location(in: dir)
        // The store exists (empty) before the follower opens it.
        #expect(try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", db]).status == 0)
        func stored() throws -> Int {
            Int(
                try Subprocess.kubetrail(["query", "--db", db, "--output", "csv", "SELECT count(*) FROM kubernetes_audit_logs"]).stdout.split(separator: "\n")[
                    1])!
        }
        let before = try stored()
        let cursorFile = dir.path("tail.cursor")
        let follower = try FollowerProcess(["tail", "kubernetes_audit_logs", "--db", db, "-o", "jsonl", "--cursor-file", cursorFile], out: dir.path("tail.out"))
        // A table follow prints one header, however many pages and statements it reads.
        let csv = try FollowerProcess(
            ["tail", "kubernetes_audit_logs", "--db", db, "-o", "csv", "--since", "2000-01-01T00:00:00Z", "--where", "verb <> 'watch'"],
            out: dir.path("tail.csv"))
        defer { csv.stop() }
        // Ready once it has read its first page (and written where it stopped).
        let ready = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: cursorFile) && Date() < ready { Thread.sleep(forTimeInterval: 0.05) }
        let first = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").path, "--db", db])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(follower.waitFor { $0.count == 100 }, "\(follower.errors)")
        let second = try Subprocess.kubetrail([
            "import", "audit", Fixtures.url("audit/audit2rbac_demo_original_v1beta1_757lines.log").path, "--db", db, "--rows-per-transaction", "50"
        ])
        #expect(second.status == 0, "\(second.stderr)")
        let expected = try stored() - before  // the rows stored before the follow began are not asked for
        #expect(follower.waitFor { $0.count >= expected }, "\(follower.errors)")
        Thread.sleep(forTimeInterval: 0.5)
        let ids = follower.lines.compactMap { ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["tp_id"] as? String }
        #expect(ids.count == expected && Set(ids).count == expected)
        follower.stop()
        let header = try #require(csv.lines.first)
        #expect(header.contains("tp_id") && header.contains("audit_id"))
        let unwatched = Int(
            try Subprocess.kubetrail(["query", "--db", db, "--output", "csv", "SELECT count(*) FROM kubernetes_audit_logs WHERE verb <> 'watch'"]).stdout.split(
                separator: "\n")[1])!
        #expect(csv.waitFor { $0.count >= unwatched + 1 }, "\(csv.errors)")
        #expect(csv.lines.filter { $0 == header }.count == 1)
    }
}
