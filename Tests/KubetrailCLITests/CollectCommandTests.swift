import Foundation
import Testing
import TestSupport

/// `kubetrail collect` as a user runs it: a process, a kubeconfig in $HOME, the README's
/// configuration blocks in ~/.kubetrail/config, and the fake API server.
@Suite(.serialized) struct CollectCommandTests {
    struct Lab {
        let dir: TemporaryDirectory
        let cluster: FakeCluster
        let db: String
        var env: [String: String] { ["HOME": dir.path("home"), "KUBECONFIG": "", "KUBETRAIL_DB": db] }

        init(_ backend: TestBackend = .sqlite, forbid: [String] = [], unserved: [String] = []) throws {
            dir = try TemporaryDirectory()
            db = try backend.location(in: dir, name: "kt.db")
            cluster = try FakeCluster(dir: dir, forbid: forbid, unserved: unserved)
            try FileManager.default.createDirectory(atPath: dir.path("home/.kube"), withIntermediateDirectories: true)
            try cluster.writeKubeconfig(dir.path("home/.kube/config"))
            try cluster.addPod(namespace: "shop", name: "web", uid: "uid-web", containers: ["app"], labels: ["app": "web"])
            try cluster.addPod(namespace: "default", name: "hello", uid: "uid-hello", containers: ["hello"])
            try cluster.appendLog(
                namespace: "shop", pod: "web", container: "app",
                [
                    "2026-11-27T09:00:00.000000000Z {\"level\":\"info\",\"msg\":\"started\"}",
                    "2026-11-27T10:00:00.000000000Z {\"level\":\"error\",\"msg\":\"payment failed\"}"
                ])
            try cluster.appendLog(namespace: "default", pod: "hello", container: "hello", ["2026-11-27T10:00:00.500000000Z hello"])
            let events = try JSONSerialization.jsonObject(with: Fixtures.data("k8s-api/ddagent_core_v1_EventList_gke_2017_1.json")) as! [String: Any]
            for (i, event) in (events["items"] as! [[String: Any]]).enumerated() { try cluster.addEvent(event, file: "e\(i)") }
            try cluster.addPod(
                namespace: "kube-system", name: "kube-apiserver-cp-1", uid: "uid-api", containers: ["kube-apiserver"],
                labels: ["component": "kube-apiserver"])
            let audit = try Fixtures.text("audit/audit2rbac_demo.log").split(separator: "\n")
            try cluster.appendLog(
                namespace: "kube-system", pod: "kube-apiserver-cp-1", container: "kube-apiserver",
                audit.enumerated().flatMap { i, line in
                    [
                        String(format: "2026-11-27T10:00:%02d.000000000Z %@", i, String(line)),
                        String(format: "2026-11-27T10:00:%02d.500000000Z I1127 10:00:00.000000 1 trace.go:236] Trace[1]: slow", i)
                    ]
                })
        }

        func config(_ name: String, _ text: String) throws {
            try dir.write("home/.kubetrail/config/\(name)", text)
        }

        func collect(_ args: [String]) throws -> ProcessResult { try Subprocess.kubetrail(["collect"] + args, environment: env) }

        func value(_ sql: String) throws -> String {
            let r = try Subprocess.kubetrail(["query", "--output", "csv", sql], environment: env)
            return r.stdout.split(separator: "\n").dropFirst().joined(separator: "\n")
        }
    }

    @Test(arguments: TestBackend.allCases) func theReadmesAPIOnlyBlocksCollectEveryTableAndARerunOnlyWhatIsNew(backend: TestBackend) throws {
        let lab = try Lab(backend)
        defer { lab.cluster.stop() }
        // The product README's "API-only Ingestion" example, verbatim apart from the names.
        try lab.config(
            "kubernetes.tpc",
            """
            # Connection config (e.g., ~/.tailpipe/config/kubernetes.tpc)
            connection "kubernetes" {
              plugin          = "kubernetes"

              # Auth: pick one
              kubeconfig_path = "~/.kube/config"    # or
              # service_account = true               # when running in-cluster

              # Filter by namespaces ("*" for all)
              namespace       = "kube-system,default,shop"

              # Optional: used for row enrichment/identification
              cluster_name    = "talos"
            }

            # Source config forcing API-only
            source "kubernetes_audit_logs" {
              api_only = true         # tries apiserver -> daemonset (no file reads)
              # Or force explicitly: method = "apiserver"
            }
            """)
        let first = try lab.collect(["--no-progress"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("Collected from \(lab.cluster.url) (cluster talos):"))
        // The API server's own log is a pod log too (37 events + 37 klog lines), besides the 3 others.
        #expect(first.stdout.contains("kubernetes_pod_logs     stored 77  (3 container log streams)"), "\(first.stdout)")
        #expect(first.stdout.contains("kubernetes_audit_logs   stored 37, skipped 37  (from pod logs (1 stream))"), "\(first.stdout)")
        #expect(first.stdout.contains("kubernetes_events       stored 3"))
        #expect(try lab.value("SELECT count(*) FROM kubernetes_audit_logs WHERE tp_source_type = 'apiserver_log' AND cluster_name = 'talos'") == "37")
        #expect(try lab.value("SELECT pod_name, log_level FROM kubernetes_pod_logs WHERE namespace = 'shop' ORDER BY timestamp") == "web,INFO\nweb,ERROR")
        #expect(try lab.value("SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Pod'") == "3")

        try lab.cluster.appendLog(namespace: "shop", pod: "web", container: "app", ["2026-11-27T11:00:00.000000000Z {\"level\":\"warn\",\"msg\":\"retrying\"}"])
        let second = try lab.collect(["kubernetes_pod_logs", "kubernetes_audit_logs", "--no-progress"])
        #expect(second.status == 0)
        #expect(second.stdout.contains("kubernetes_pod_logs     stored 1  ("), "\(second.stdout)")
        #expect(second.stdout.contains("kubernetes_audit_logs   stored 0  ("), "\(second.stdout)")
        #expect(!second.stdout.contains("kubernetes_events"))
        #expect(!second.stdout.contains("duplicates"), "a rerun reads from the saved cursors, not from the start")
    }

    @Test(arguments: TestBackend.allCases) func fromAndToBoundTheLogsAndTheEvents(backend: TestBackend) throws {
        let lab = try Lab(backend)
        defer { lab.cluster.stop() }
        let r = try lab.collect([
            "kubernetes_pod_logs", "kubernetes_events", "--from", "2026-11-27T09:30:00Z", "--to", "2026-11-27T10:00:00.6Z",
            "--namespace", "shop,default", "--no-progress"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            try lab.value("SELECT log_message FROM kubernetes_pod_logs ORDER BY timestamp")
                == "\"{\"\"level\"\":\"\"error\"\",\"\"msg\"\":\"\"payment failed\"\"}\"\nhello")
        // The fixture's events are from 2017: outside the range.
        #expect(try lab.value("SELECT count(*) FROM kubernetes_events") == "0")
        #expect(r.stdout.contains("kubernetes_events       stored 0, filtered 3"), "\(r.stdout)")
        #expect(lab.cluster.requestPaths.contains { $0.contains("sinceTime=2026-11-27T09%3A30%3A00Z") })

        // The README's relative form: an hour before now, at second precision.
        let readme = try lab.collect(["kubernetes_pod_logs", "kubernetes_events", "--from", "1h", "--namespace", "shop,default"])
        #expect(readme.status == 0, "\(readme.stderr)")
        let hourAgo = Date().addingTimeInterval(-3600)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH"
        #expect(
            lab.cluster.requestPaths.contains {
                $0.contains("sinceTime=\(f.string(from: hourAgo))%3A") || $0.contains("sinceTime=\(f.string(from: hourAgo.addingTimeInterval(-60)))%3A")
            })
    }

    @Test(arguments: TestBackend.allCases) func followKeepsCollectingUntilInterrupted(backend: TestBackend) throws {
        let lab = try Lab(backend)
        defer { lab.cluster.stop() }
        let process = Process()
        process.executableURL = Subprocess.productURL("kubetrail")
        process.arguments = ["collect", "kubernetes_pod_logs", "--follow"]
        process.environment = ProcessInfo.processInfo.environment.merging(lab.env) { _, b in b }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.runUnblocked()
        func rows() -> String { (try? lab.value("SELECT count(*) FROM kubernetes_pod_logs")) ?? "" }
        var deadline = Date().addingTimeInterval(20)
        while rows() != "77" && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(rows() == "77")
        try lab.cluster.appendLog(namespace: "shop", pod: "web", container: "app", ["2026-11-27T11:00:00.000000000Z {\"level\":\"warn\",\"msg\":\"later\"}"])
        deadline = Date().addingTimeInterval(20)
        while rows() != "78" && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(rows() == "78")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("kubernetes_pod_logs     stored 78"), "\(text)")
    }

    @Test func followLogsInTheBlockStreamsUnlessNoFollow() throws {
        let lab = try Lab()
        defer { lab.cluster.stop() }
        try lab.config(
            "kubernetes.tpc",
            """
            connection "kubernetes" {
              kubeconfig_path = "~/.kube/config"
              namespace       = "shop"
              follow_logs     = true       # Real-time streaming
            }
            """)
        let once = try lab.collect(["kubernetes_pod_logs", "--no-follow", "--no-progress"])
        #expect(once.status == 0 && once.stdout.contains("stored 2"), "\(once.stdout)")
        #expect(!lab.cluster.requestPaths.contains { $0.contains("follow=true") })
        let process = Process()
        process.executableURL = Subprocess.productURL("kubetrail")
        process.arguments = ["collect", "kubernetes_pod_logs"]
        process.environment = ProcessInfo.processInfo.environment.merging(lab.env) { _, b in b }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.runUnblocked()
        let deadline = Date().addingTimeInterval(20)
        while !lab.cluster.requestPaths.contains(where: { $0.contains("follow=true") }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(process.isRunning, "follow_logs = true keeps it running")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test(arguments: TestBackend.allCases) func theFileMethodReadsTheSourceBlocksAuditPaths(backend: TestBackend) throws {
        let lab = try Lab(backend)
        defer { lab.cluster.stop() }
        try FileManager.default.createDirectory(atPath: lab.dir.path("audit"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.url("audit/audit2rbac_demo.log").path, toPath: lab.dir.path("audit/kube-apiserver.log"))
        try lab.config(
            "audit.tpc",
            """
            source "kubernetes_audit_logs" {
              # one of: file | apiserver | daemonset
              method = "file"

              # optional override of default file search paths (file method only)
              audit_log_paths = [
                "\(lab.dir.path("audit"))/*.log",
                "/var/log/kube-audit/audit.log"
              ]
            }
            """)
        let r = try lab.collect(["kubernetes_audit_logs", "--no-progress"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("stored 37  (from 1 file: \(lab.dir.path("audit/kube-apiserver.log")))"), "\(r.stdout)")
        #expect(try lab.value("SELECT count(*) FROM kubernetes_audit_logs WHERE tp_source_type = 'audit_file'") == "37")
        #expect(!lab.cluster.requestPaths.contains { $0.contains("/log?") }, "the file method reads no pod logs")
    }

    @Test func badInputsGetClearErrors() throws {
        let lab = try Lab(forbid: ["secrets"])
        defer { lab.cluster.stop() }
        let table = try lab.collect(["kubernetes_nothing"])
        #expect(table.status == 2 && table.stderr.contains("unknown table kubernetes_nothing; collect takes kubernetes_pod_logs"))
        let from = try lab.collect(["--from", "yesterday"])
        #expect(from.status == 2 && from.stderr.contains("--from takes a duration ago (15m, 1h, 7d) or an RFC 3339 time, not \"yesterday\""))
        let context = try lab.collect(["--context", "prod"])
        #expect(context.status == 2 && context.stderr.contains("context \"prod\" does not exist"), "\(context.stderr)")
        try lab.config("broken.tpc", "connection \"kubernetes\" {\n  kubeconfig_pth = \"~/.kube/config\"\n}\n")
        let option = try lab.collect([])
        #expect(option.status == 2 && option.stderr.contains("broken.tpc:2: unknown option kubeconfig_pth in connection \"kubernetes\""), "\(option.stderr)")
        try FileManager.default.removeItem(atPath: lab.dir.path("home/.kubetrail/config/broken.tpc"))
        // A kind the credentials may not list: reported, the rest collected, exit 1.
        let forbidden = try lab.collect(["kubernetes_resources", "--no-progress"])
        #expect(forbidden.status == 1)
        #expect(forbidden.stderr.contains("forbidden: /api/v1/secrets cannot be listed with these credentials (RBAC)"), "\(forbidden.stderr)")
        #expect(try lab.value("SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Pod'") == "3")
    }

    /// A kind the API server does not serve (404: a group an older or trimmed cluster lacks)
    /// is skipped with a note; the collection succeeds.
    @Test func aKindTheClusterDoesNotServeIsSkippedWithANote() throws {
        let lab = try Lab(unserved: ["ingresses", "cronjobs"])
        defer { lab.cluster.stop() }
        let r = try lab.collect(["kubernetes_resources", "--no-progress"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(
            (r.stdout + r.stderr).contains("not served by this API server, skipped: /apis/batch/v1/cronjobs, /apis/networking.k8s.io/v1/ingresses"),
            "\(r.stdout) \(r.stderr)")
        #expect(try lab.value("SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Pod'") == "3")
    }
}
