import Foundation
import Testing
import TestSupport
import KubetrailCollect
import KubetrailCore
import KubetrailStore
import KubetrailTables
@testable import KubetrailKube

/// The API-only audit method: kube-apiserver pods' logs, where audit events (stdout) are
/// interleaved with klog lines (stderr), become `kubernetes_audit_logs` rows.
@Suite struct APIServerAuditTests {
    /// The fixture's audit events as the kubelet would serve them, a klog line after every third,
    /// some lines sharing a timestamp; returns the lines and the number of distinct events.
    static func apiserverLog(startSecond: Int = 0) throws -> (lines: [String], events: Int) {
        let audit = try Fixtures.text("audit/audit2rbac_demo.log").split(separator: "\n").map(String.init)
        var lines: [String] = []
        var n = startSecond * 4
        func stamp() -> String {
            let s = n / 4, frac = (n % 4) * 250_000_000
            return String(format: "2026-11-27T10:%02d:%02d.%09dZ", s / 60, s % 60, frac)
        }
        for (i, event) in audit.enumerated() {
            lines.append("\(stamp()) \(event)")
            if i % 5 != 4 { n += 1 }  // every fifth pair shares an instant
            if i % 3 == 2 {
                lines.append(
                    "\(stamp()) I1127 10:00:0\(i % 10).000000       1 controller.go:615] quota admission added evaluator for: leases.coordination.k8s.io")
                n += 1
            }
        }
        let distinct = Set(try AuditFixtureOracle.events(in: "audit/audit2rbac_demo.log").map { "\($0["auditID"]!):\($0["stage"]!)" })
        return (lines, distinct.count)
    }

    func count(_ store: SQLiteStore, _ sql: String) throws -> Int {
        let out = MemorySink()
        try store.query(sql, into: out)
        return Int(out.rows.first?.first ?? "") ?? -1
    }

    @Test func apiserverLogsBecomeAuditRowsAcrossACollectorRestart() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        try cluster.addPod(
            namespace: "kube-system", name: "kube-apiserver-cp-1", uid: "uid-apiserver", containers: ["kube-apiserver"],
            labels: ["component": "kube-apiserver", "tier": "control-plane"], node: "cp-1")
        try cluster.addPod(namespace: "kube-system", name: "coredns-1", uid: "uid-dns", containers: ["coredns"], labels: ["k8s-app": "kube-dns"])
        try cluster.appendLog(
            namespace: "kube-system", pod: "coredns-1", container: "coredns",
            [
                "2026-11-27T10:00:00.000000000Z {\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"not-from-the-apiserver\",\"stage\":\"ResponseComplete\",\"stageTimestamp\":\"2026-11-27T10:00:00Z\"}"
            ])
        let (lines, events) = try Self.apiserverLog()
        let half = lines.count / 2
        try cluster.appendLog(namespace: "kube-system", pod: "kube-apiserver-cp-1", container: "kube-apiserver", Array(lines[..<half]))
        let store = try SQLiteStore(path: dir.path("kt.db"))
        let client = KubeClient(connection: ClusterConnection(server: cluster.url, namespace: "default", contextName: nil))
        func collection() -> PodLogCollection {
            let c = PodLogCollection(
                client: client, store: store, context: IngestContext(clusterName: "lab", sourceType: .apiserverLog),
                table: .audit, selections: [.apiserver, .auditCollectorDaemonSet], follow: true, cursorScope: "lab")
            c.discoverEvery = 0.2
            c.retryDelay = 0.1
            return c
        }
        func waitFor(_ n: Int) throws {
            let deadline = Date().addingTimeInterval(20)
            while try count(store, "SELECT count(*) FROM kubernetes_audit_logs") < n && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        }
        // First collector: the first half, then it stops (as a process would at SIGTERM).
        let first = collection()
        let firstDone = DispatchSemaphore(value: 0)
        Thread {
            _ = try? first.run(); firstDone.signal()
        }.start()
        let firstHalfEvents = lines[..<half].filter { $0.contains("\"auditID\"") }.count
        try waitFor(firstHalfEvents)
        first.stop()
        #expect(firstDone.wait(timeout: .now() + 30) == .success, "the first collector ended before the second starts")
        // While nobody reads: the rest, and a malformed audit line.
        try cluster.appendLog(
            namespace: "kube-system", pod: "kube-apiserver-cp-1", container: "kube-apiserver",
            Array(lines[half...]) + ["2026-11-27T10:59:00.000000000Z {\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":"])
        let second = collection()
        let secondDone = DispatchSemaphore(value: 0)
        Thread {
            _ = try? second.run(); secondDone.signal()
        }.start()
        try waitFor(events)
        second.stop()
        #expect(secondDone.wait(timeout: .now() + 30) == .success)
        #expect(try count(store, "SELECT count(*) FROM kubernetes_audit_logs") == events)
        #expect(
            try count(
                store,
                "SELECT count(*) FROM kubernetes_audit_logs WHERE tp_source_type = 'apiserver_log' AND tp_source_name = 'kube-apiserver-cp-1' AND cluster_name = 'lab'"
            ) == events)
        #expect(try count(store, "SELECT count(*) FROM kubernetes_audit_logs WHERE audit_id = 'not-from-the-apiserver'") == 0)
        let s = second.summary
        #expect(s.duplicates == 0, "the second collector re-read nothing the first had committed")
        #expect(s.rejected == 1)
        #expect(s.skipped == lines[half...].filter { !$0.contains("\"auditID\"") }.count)
        // The second collector's request started at the first one's cursor, not at the beginning.
        let requests = cluster.requestPaths.filter { $0.contains("kube-apiserver-cp-1/log?") }
        #expect(requests.first?.contains("sinceTime") == false)
        #expect(requests.last?.contains("sinceTime=2026-11-27T10%3A00%3A") == true)
    }

    @Test func apiOnlyFallsBackToAuditCollectorPodsWhenThereIsNoAPIServerPod() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        try cluster.addPod(
            namespace: "kubetrail", name: "audit-reader-x1", uid: "uid-reader", containers: ["tail"],
            labels: ["app.kubernetes.io/component": "audit-log-collector"])
        let (lines, events) = try Self.apiserverLog()
        try cluster.appendLog(namespace: "kubetrail", pod: "audit-reader-x1", container: "tail", lines)
        let store = try SQLiteStore(path: dir.path("kt.db"))
        let client = KubeClient(connection: ClusterConnection(server: cluster.url, namespace: "default", contextName: nil))
        var source = KubernetesConfig.AuditSource()
        source.apiOnly = true
        let summary = try PodLogCollection(
            client: client, store: store, context: IngestContext(sourceType: .apiserverLog), table: .audit,
            selections: source.methods.compactMap(LogPodSelection.forAudit), follow: false, cursorScope: "c"
        ).run()
        #expect(summary.stored == events)
        #expect(try count(store, "SELECT count(*) FROM kubernetes_audit_logs WHERE tp_source_type = 'pod_log_api'") == events)
        #expect(cluster.requestPaths.contains { $0.hasPrefix("/api/v1/namespaces/kube-system/pods?") })
        #expect(cluster.requestPaths.contains { $0.contains("labelSelector=app.kubernetes.io%2Fcomponent%3Daudit-log-collector") })
    }

    @Test func aForbiddenPodListIsReportedWithWhatRBACNeeds() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir, forbid: ["pods"])
        defer { cluster.stop() }
        let store = try SQLiteStore(path: dir.path("kt.db"))
        let client = KubeClient(connection: ClusterConnection(server: cluster.url, namespace: "default", contextName: nil))
        #expect {
            try PodLogCollection(
                client: client, store: store, context: IngestContext(sourceType: .apiserverLog), table: .audit,
                selections: [.apiserver], follow: false, cursorScope: "c"
            ).run()
        } throws: { error in
            let text = "\(error)"
            return text.contains("list /api/v1/namespaces/kube-system/pods: HTTP 403 (RBAC: the credentials need list on pods and get on pods/log)")
                && text.contains("cannot list resource \"pods\"")
        }
    }
}
