import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct TLSTests {
    @Test func tlsServesVerifiedHTTPSOnly() throws {
        let f = try AggregatorFixture()
        try makeCertificates(in: f.dir)
        let server = try f.start(["--tls-cert", f.dir.path("server.pem"), "--tls-key", f.dir.path("server.key")])
        defer { server.stop() }
        #expect(server.baseURL.hasPrefix("https://"))
        let ok = try Curl.request(server.baseURL + "/healthz", method: "GET", extra: ["--cacert", f.dir.path("ca.pem")])
        #expect(ok.status == 200)
        // A client that verifies (the default) refuses a server it cannot verify.
        let unverified = try Curl.request(server.baseURL + "/healthz", method: "GET")
        #expect(unverified.status != 200)
        // Plain HTTP to the TLS port gets nowhere.
        let plain = try Curl.request("http://127.0.0.1:\(server.port)/healthz", method: "GET")
        #expect(plain.status != 200)
        let batch = try f.write("b.z", AggregatorFixture.fixtureBatch().deflated())
        let ingested = try Curl.request(
            server.baseURL + "/v1/ingest", headers: ["Authorization": "Bearer \(f.ingestToken)", "Content-Encoding": "deflate"],
            bodyFile: batch, extra: ["--cacert", f.dir.path("ca.pem")])
        #expect(ingested.status == 200, "\(ingested.body)")
    }

    @Test func mutualTLSRequiresAClientCertificateWhichAuthenticatesTheWebhook() throws {
        let f = try AggregatorFixture()
        try makeCertificates(in: f.dir)
        let server = try f.start(["--tls-cert", f.dir.path("server.pem"), "--tls-key", f.dir.path("server.key"), "--client-ca", f.dir.path("ca.pem")])
        defer { server.stop() }
        let ca = ["--cacert", f.dir.path("ca.pem")]
        let client = ca + ["--cert", f.dir.path("client.pem"), "--key", f.dir.path("client.key")]
        #expect(try Curl.request(server.baseURL + "/healthz", method: "GET", extra: ca).status != 200)
        let rogue = ca + ["--cert", f.dir.path("rogue.pem"), "--key", f.dir.path("rogue.key")]
        #expect(try Curl.request(server.baseURL + "/healthz", method: "GET", extra: rogue).status != 200)
        #expect(try Curl.request(server.baseURL + "/healthz", method: "GET", extra: client).status == 200)
        let lines = try Fixtures.text("audit/openshift/clo_apiaudit_audit.log").split(separator: "\n")
        let list = Data((#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":["# + lines.joined(separator: ",") + "]}").utf8)
        let webhook = try Curl.request(server.baseURL + "/v1/audit/webhook", headers: ["Content-Type": "application/json"], body: list, extra: client)
        #expect(webhook.status == 200, "\(webhook.body)")
        // Ingest still needs its token, certificate or not.
        let batch = try f.write("b.z", AggregatorFixture.fixtureBatch().deflated())
        #expect(try Curl.request(server.baseURL + "/v1/ingest", headers: ["Content-Encoding": "deflate"], bodyFile: batch, extra: client).status == 401)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs WHERE tp_source_type = 'audit_webhook'") == 5)
    }

    @Test func badTLSConfigurationIsAClearError() throws {
        let f = try AggregatorFixture()
        let r = try Subprocess.kubetrail(
            ["aggregator", "--listen", "127.0.0.1:0"] + f.serverArguments + ["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("cannot load TLS certificate or key"), "\(r.stderr)")
    }
}
