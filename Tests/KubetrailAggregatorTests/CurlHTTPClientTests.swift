import Foundation
@testable import KubetrailCore
@testable import KubetrailCurl
import Testing
import TestSupport

/// The agent's libcurl client against a real aggregator.
@Suite(.serialized) struct CurlHTTPClientTests {
    func headers(_ token: String) -> [(String, String)] {
        [("Authorization", "Bearer \(token)"), ("Content-Encoding", "deflate"), ("Content-Type", "application/octet-stream")]
    }

    @Test func postsBatchesOverOneKeptAliveConnection() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        let client = try CurlHTTPClient()
        let first = try client.post(server.baseURL + "/v1/ingest", body: AggregatorFixture.fixtureBatch().deflated(), headers: headers(f.ingestToken))
        #expect(first.status == 200, "\(first.text)")
        #expect(first.newConnection)
        let again = try client.post(
            server.baseURL + "/v1/ingest", body: AggregatorFixture.fixtureBatch(auditCopy: 2).deflated(), headers: headers(f.ingestToken))
        #expect(again.status == 200)
        #expect(!again.newConnection)  // keep-alive
        let denied = try client.post(server.baseURL + "/v1/ingest", body: [1, 2, 3], headers: headers("wrong"))
        #expect(denied.status == 401 && denied.text.contains("invalid bearer token"))
        // A 2 MB body goes out without waiting on Expect: 100-continue.
        let big = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761) }
        let started = Date()
        let tooBig = try client.post(server.baseURL + "/v1/ingest", body: big, headers: headers(f.ingestToken))
        #expect(tooBig.status == 400 || tooBig.status == 413)
        #expect(Date().timeIntervalSince(started) < 0.9, "a 100-continue stall is back")
    }

    @Test func verifiesTLSAndClassifiesFailures() throws {
        let f = try AggregatorFixture()
        try makeCertificates(in: f.dir)
        let server = try f.start(["--tls-cert", f.dir.path("server.pem"), "--tls-key", f.dir.path("server.key")])
        defer { server.stop() }
        let trusted = try CurlHTTPClient(options: .init(caFile: f.dir.path("ca.pem")))
        #expect(
            try trusted.post(server.baseURL + "/v1/ingest", body: AggregatorFixture.fixtureBatch().deflated(), headers: headers(f.ingestToken)).status == 200)
        let untrusting = try CurlHTTPClient()
        do {
            _ = try untrusting.post(server.baseURL + "/v1/ingest", body: [], headers: [])
            Issue.record("an unverifiable server was accepted")
        } catch let failure as CurlHTTPClient.Failure {
            #expect(!failure.isRetryable)
        }
        do {
            _ = try untrusting.post("http://127.0.0.1:9/v1/ingest", body: [], headers: [])
            Issue.record("a refused connection did not fail")
        } catch let failure as CurlHTTPClient.Failure {
            #expect(failure.isRetryable)
        }
    }

    @Test func retryAfterIsRead() {
        let c = CurlHTTPClient.Collector(limit: 10)
        c.header("HTTP/1.1 503 Service Unavailable\r\n")
        c.header("Retry-After: 5\r\n")
        #expect(c.retryAfter == 5)
        #expect(Array("0123456789abcdef".utf8).withUnsafeBytes { c.append(body: $0) })  // not a stream: collected, never stopped
        #expect(c.body.count == 10)  // capped
    }
}
