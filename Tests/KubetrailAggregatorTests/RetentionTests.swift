import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct RetentionTests {
    @Test(arguments: TestBackend.allCases) func rowsPastTheirTableMaximumAgeAreDeletedOthersKept(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        // Audit rows go once a signed digest carries the cutoff: digests every second here.
        let server = try f.start(["--retention", "kubernetes_audit_logs=30d", "--retention-interval", "0.2", "--digest-interval", "1s"])
        defer { server.stop() }
        // Old: the 2023 fixture events (audit) and 2021 container lines (no retention configured).
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        // New: an event from a minute ago, through the webhook.
        let recent = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-60))
        let event =
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"fresh","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"stageTimestamp":"\#(recent)"}"#
        let list = Data(#"{"kind":"EventList","items":[\#(event)]}"#.utf8)
        #expect(try Curl.request(server.baseURL + "/v1/audit/webhook", headers: ["Authorization": "Bearer \(f.webhookToken)"], body: list).status == 200)
        var remaining = -1
        for _ in 0..<100 {
            remaining = try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs")
            if remaining == 1 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(remaining == 1)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs WHERE audit_id = 'fresh'") == 1)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_pod_logs") == 5)
        let metrics = try Curl.request(server.baseURL + "/metrics", method: "GET").body
        #expect(metrics.contains("kubetrail_retention_deleted_rows_total{table=\"kubernetes_audit_logs\"} 100"), "\(metrics)")
    }

    @Test func badRetentionRuleIsRefused() throws {
        let f = try AggregatorFixture()
        let r = try Subprocess.kubetrail(["aggregator"] + f.serverArguments + ["--retention", "kubernetes_nothing=3d"])
        #expect(r.status == 2 && r.stderr.contains("--retention must be TABLE=DURATION"))
    }
}
