import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct WebhookTests {
    /// What kube-apiserver's webhook backend POSTs: an audit.k8s.io/v1 EventList of events.
    func eventList() throws -> Data {
        let lines = try Fixtures.text("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").split(separator: "\n")
        return Data((#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["# + lines.joined(separator: ",") + "]}").utf8)
    }

    @Test(arguments: TestBackend.allCases) func eventListIsStoredOnceAsWebhookRows(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        let headers = ["Authorization": "Bearer \(f.webhookToken)", "Content-Type": "application/json"]
        let first = try Curl.request(server.baseURL + "/v1/audit/webhook", headers: headers, body: eventList())
        #expect(first.status == 200, "\(first.body)")
        #expect((first.json?["stored"] as? [String: Int])?["kubernetes_audit_logs"] == 100)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs WHERE tp_source_type = 'audit_webhook'") == 100)
        // kube-apiserver retries every failure, so the same events come again.
        let retry = try Curl.request(server.baseURL + "/v1/audit/webhook", headers: headers, body: eventList())
        #expect(retry.status == 200)
        #expect(retry.json?["duplicates"] as? Int == 100)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
    }

    @Test(arguments: TestBackend.allCases) func badBodiesAndWrongTokensAreRefused(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        let url = server.baseURL + "/v1/audit/webhook"
        let bad = try Curl.request(url, headers: ["Authorization": "Bearer \(f.webhookToken)"], body: Data("<html>".utf8))
        #expect(bad.status == 400, "\(bad.body)")
        #expect(try Curl.request(url, headers: ["Authorization": "Bearer \(f.queryToken)"], body: eventList()).status == 403)
        // An agent's token cannot pose as kube-apiserver (the review's pre-emption probe).
        let agent = try Curl.request(url, headers: ["Authorization": "Bearer \(f.ingestToken)"], body: eventList())
        #expect(agent.status == 403 && agent.body.contains("kinds=webhook"), "\(agent.body)")
        #expect(try Curl.request(url, body: eventList()).status == 401)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 0)
    }
}
