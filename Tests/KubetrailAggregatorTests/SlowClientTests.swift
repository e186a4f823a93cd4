import Foundation
import KubetrailCore
import Testing
import TestSupport

/// The review's connection probes: bodies trickled after an early answer, heads trickled byte by
/// byte, and many such clients at once, which used to hold connections past the idle timeout and
/// starve `/healthz` behind the connection cap.
@Suite(.serialized) struct SlowClientTests {
    static let ingestHead = "POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: deflate\r\nContent-Length: 1000000\r\n"

    @Test func aBodyTrickledAfterA401DoesNotHoldTheConnection() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        let c = try RawConnection(port: server.port)
        c.send(Self.ingestHead + "\r\nx")
        // Before: the server read the trickle for as long as it came (the idle timer never ran out).
        let closed = c.secondsUntilClosed(limit: 15) { "x" }
        #expect(closed != nil, "the connection stayed open")
        #expect(closed?.received.hasPrefix("HTTP/1.1 401") == true, "\(closed?.received ?? "")")
        // A 404 too, and an authorised request answered early (413 from its Content-Length).
        let c2 = try RawConnection(port: server.port)
        c2.send("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nx")
        #expect(c2.secondsUntilClosed(limit: 15) { "x" }?.received.hasPrefix("HTTP/1.1 404") == true)
        let c3 = try RawConnection(port: server.port)
        c3.send(
            "POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(f.ingestToken)\r\nContent-Encoding: deflate\r\nContent-Length: 999999999\r\n\r\nx")
        #expect(c3.secondsUntilClosed(limit: 15) { "x" }?.received.hasPrefix("HTTP/1.1 413") == true)
    }

    @Test func aRequestTrickledByteByByteIsCutAtItsDeadline() throws {
        let f = try AggregatorFixture()
        let server = try f.start(["--idle-timeout", "1", "--request-timeout", "2"])
        defer { server.stop() }
        // A head that never ends: a header line grows by a byte every 200 ms.
        let head = try RawConnection(port: server.port)
        head.send("GET /healthz HTTP/1.1\r\nX-Slow: ")
        let cut = head.secondsUntilClosed(limit: 20) { "a" }
        #expect(cut != nil && cut!.seconds < 12, "\(String(describing: cut))")
        // An authorised body that never ends (the webhook reads JSON whole, so spaces are read).
        let body = try RawConnection(port: server.port)
        body.send("POST /v1/audit/webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(f.webhookToken)\r\nContent-Length: 1000000\r\n\r\n ")
        let cut2 = body.secondsUntilClosed(limit: 20) { " " }
        #expect(cut2 != nil && cut2!.seconds >= 1.5 && cut2!.seconds < 12, "\(String(describing: cut2))")
        // A well-behaved keep-alive client is not affected by the deadline.
        let ok = try RawConnection(port: server.port)
        for _ in 0..<3 {
            ok.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            var answer = ""
            for _ in 0..<25 where !answer.contains("\"ok\"") { answer += ok.read() ?? "" }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        }
    }

    @Test func healthzAnswersWhileTricklersCrowdTheConnectionCap() throws {
        let f = try AggregatorFixture()
        let server = try f.start(["--max-connections", "8"])
        defer { server.stop() }
        var crowd: [RawConnection] = []
        for _ in 0..<24 {
            let c = try RawConnection(port: server.port)
            c.send(Self.ingestHead + "\r\nx")
            crowd.append(c)
        }
        // Each is answered 401 and let go; the cap frees up for the probe.
        let probe = try Curl.request(server.baseURL + "/healthz", method: "GET", extra: ["--max-time", "10"])
        #expect(probe.status == 200)
        withExtendedLifetime(crowd) {}
    }
}
