import Foundation
import Testing
import TestSupport

/// The aggregator process configured with a `connection "kubernetes"` block polls the API.
@Suite(.serialized) struct AggregatorPollingTests {
    @Test func theAggregatorFillsEventsAndResourcesFromTheConnectionBlock() throws {
        let dir = try TemporaryDirectory()
        let api = try FakeAPIServer(dir: dir, cert: nil, key: nil, clientCA: nil)
        defer { api.stop() }
        try dir.write(
            "kube/config",
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster: {server: \"http://127.0.0.1:\(api.port)\"}\ncontexts:\n- name: fake\n  context: {cluster: fake, user: \"\"}\n"
        )
        try dir.write("tokens", "polling-test-token-\(UUID().uuidString)\n")
        let config = try dir.write(
            "kubetrail.tpc",
            """
            connection "kubernetes" {
              plugin          = "kubernetes"
              kubeconfig_path = "\(dir.path("kube/config"))"
              kubeconfig_context = "fake"
              include_events  = true
              cluster_name    = "lab"
            }
            aggregator {
              ingest_token_file = "\(dir.path("tokens"))"
            }
            """)
        let server = try ServerProcess(arguments: ["--db", dir.path("agg.db"), "--config", config])
        defer { server.kill() }
        func count(_ sql: String) -> Int {
            guard let r = try? Subprocess.kubetrail(["query", "--db", dir.path("agg.db"), "--output", "csv", sql]), r.status == 0 else { return -1 }
            return Int(r.stdout.split(separator: "\n").dropFirst().first ?? "") ?? -1
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline
            && !(count("SELECT count(*) FROM kubernetes_events") == 2 && count("SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Pod'") == 1)
        {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(count("SELECT count(*) FROM kubernetes_events WHERE cluster_name = 'lab'") == 2)
        #expect(count("SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Pod' AND name = 'web'") == 1)
        #expect(count("SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Secret'") == 0)  // forbidden, reported
        // Every collection is asked for, the forbidden one included (each has its own thread).
        let asked = { (prefix: String) in api.requests.contains { ($0["path"] as? String)?.hasPrefix(prefix) == true } }
        let until = Date().addingTimeInterval(15)
        while Date() < until && !(asked("/api/v1/secrets") && asked("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")) {
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(asked("/api/v1/secrets") && asked("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"))
    }

    @Test func theAPIServerMethodSurvivesAKilledAggregatorWithoutLoss() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        try cluster.addPod(
            namespace: "kube-system", name: "kube-apiserver-cp-1", uid: "uid-api", containers: ["kube-apiserver"],
            labels: ["component": "kube-apiserver"])
        let (lines, events) = try APIServerAuditTests.apiserverLog()
        let half = lines.count / 2
        try cluster.appendLog(namespace: "kube-system", pod: "kube-apiserver-cp-1", container: "kube-apiserver", Array(lines[..<half]))
        try cluster.writeKubeconfig(dir.path("kube/config"))
        try dir.write("tokens", "polling-test-token-\(UUID().uuidString)\n")
        let config = try dir.write(
            "kubetrail.tpc",
            """
            connection "kubernetes" {
              kubeconfig_path = "\(dir.path("kube/config"))"
              include_events  = false
              namespace       = "kube-system"
            }
            source "kubernetes_audit_logs" {
              method = "apiserver"
            }
            aggregator {
              ingest_token_file = "\(dir.path("tokens"))"
            }
            """)
        func count() -> Int {
            guard
                let r = try? Subprocess.kubetrail([
                    "query", "--db", dir.path("agg.db"), "--output", "csv",
                    "SELECT count(*) FROM kubernetes_audit_logs WHERE tp_source_type = 'apiserver_log'"
                ]),
                r.status == 0
            else { return -1 }
            return Int(r.stdout.split(separator: "\n").dropFirst().first ?? "") ?? -1
        }
        func waitFor(_ n: Int) {
            let deadline = Date().addingTimeInterval(30)
            while count() < n && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        }
        let first = try ServerProcess(arguments: ["--db", dir.path("agg.db"), "--config", config])
        let firstHalf = lines[..<half].filter { $0.contains("\"auditID\"") }.count
        waitFor(firstHalf)
        #expect(count() == firstHalf)
        first.kill()  // SIGKILL: no chance to flush anything
        let requestsBefore = cluster.requestPaths.filter { $0.contains("/log?") }.count
        try cluster.appendLog(namespace: "kube-system", pod: "kube-apiserver-cp-1", container: "kube-apiserver", Array(lines[half...]))
        let second = try ServerProcess(arguments: ["--db", dir.path("agg.db"), "--config", config])
        defer { second.kill() }
        waitFor(events)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(count() == events)
        let logRequests = cluster.requestPaths.filter { $0.contains("/log?") }
        #expect(logRequests.first?.contains("sinceTime") == false)
        // The restarted aggregator resumed from its cursor (the first reader had none).
        let resumed = try #require(logRequests.dropFirst(requestsBefore).first)
        #expect(resumed.contains("sinceTime=2026-11-27T10%3A00%3A"), "\(resumed)")
    }

    @Test func aBrokenConnectionBlockStopsTheAggregatorWithKubectlsWords() throws {
        let dir = try TemporaryDirectory()
        try dir.write("kube/config", "apiVersion: v1\nkind: Config\ncurrent-context: gone\n")
        try dir.write("tokens", "polling-test-token-\(UUID().uuidString)\n")
        let config = try dir.write("kubetrail.tpc", "connection \"kubernetes\" {\n  kubeconfig_path = \"\(dir.path("kube/config"))\"\n}\n")
        let r = try Subprocess.kubetrail([
            "aggregator", "--listen", "127.0.0.1:0", "--db", dir.path("agg.db"),
            "--ingest-token-file", dir.path("tokens"), "--config", config
        ])
        #expect(r.status == 2)
        #expect(r.stderr.contains("context was not found for specified context: gone"))
    }
}
