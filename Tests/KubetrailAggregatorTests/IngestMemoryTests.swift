import Foundation
import KubetrailCore
import Testing
import TestSupport

/// The review's memory probes against ingest: one valid batch inflating to 248 MB (the old
/// 256 MiB cap let it through, 610 MiB resident), and the webhook buffering 256 MiB whatever
/// `--max-body-bytes` said. Inflated bytes are now capped per batch and across the batches being
/// decoded at once.
@Suite(.serialized) struct IngestMemoryTests {
    /// Container log records of random hex: about 2:1 under zlib, like real logs, so no ratio
    /// limit is what stops them.
    static func batch(inflatedMiB: Int, node: String = "n") -> WireBatchEncoder {
        var encoder = WireBatchEncoder(node: node, cluster: "test")
        var generator = SystemRandomNumberGenerator()
        let source = WireFormat.Source(kind: .containerLogLine, path: "/var/log/pods/default_big_uid/app/0.log", identity: "big-\(UUID().uuidString)")
        var offset: UInt64 = 0
        for _ in 0..<(inflatedMiB * 8) {  // 128 KiB lines
            var line = Array("2026-12-01T10:00:00.000000000Z stdout F ".utf8)
            let digits = Array("0123456789abcdef".utf8)
            for _ in 0..<(16 << 10) {
                var word = generator.next()
                for _ in 0..<8 {
                    line.append(digits[Int(word & 15)])
                    word >>= 4
                }
            }
            encoder.append(source, offset: offset, bytes: line)
            offset += UInt64(line.count + 1)
        }
        return encoder
    }

    @Test func aBatchInflatingPastTheCapIsRefusedWith413() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        let big = try f.write("big.z", Self.batch(inflatedMiB: 40).deflated())
        let r = try f.ingest(server, file: big)
        #expect(r.status == 413 && r.body.contains("inflated batch exceeds 33554432 bytes"), "\(r.status) \(r.body)")
        #expect(try f.ingest(server, file: f.write("ok.z", Self.batch(inflatedMiB: 2).deflated())).status == 200)
    }

    @Test func batchesDecodedAtOnceShareOneBudget() throws {
        let f = try AggregatorFixture()
        let server = try f.start(["--max-inflight-bytes", "\(4 << 20)"])
        defer { server.stop() }
        // A batch that alone needs more than the budget can never be decoded: 413, not 503. Its
        // 8,000 short lines cost more as rows than as bytes.
        var tiny = WireBatchEncoder(node: "n", cluster: "test")
        for i in 0..<8_000 {
            tiny.append(
                .init(kind: .containerLogLine, path: "/var/log/pods/a_b_c/d/0.log", identity: "tiny"), offset: UInt64(i * 50),
                bytes: Array("2026-12-01T10:00:00.000000000Z stdout F \(i)".utf8))
        }
        let alone = try f.ingest(server, file: f.write("tiny.z", tiny.deflated()))
        #expect(alone.status == 413 && alone.body.contains("--max-inflight-bytes"), "\(alone.status) \(alone.body)")
        // A slow sender holds most of the budget with the first part of a 3 MiB batch…
        let slow = try Self.batch(inflatedMiB: 3).deflated()
        let c = try RawConnection(port: server.port)
        c.send(
            "POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(f.ingestToken)\r\nContent-Encoding: deflate\r\nContent-Length: \(slow.count)\r\n\r\n"
        )
        let part = slow.count * 3 / 4
        try slow[0..<part].withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(c.fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw ServerError("send failed") }
                sent += n
            }
        }
        // …so another batch that would pass the budget is told to come back, not decoded (asked
        // until the slow one's bytes have reached the decoder).
        var other = try f.ingest(server, file: f.write("other.z", Self.batch(inflatedMiB: 2).deflated()))
        for _ in 0..<40 where other.status == 200 {
            Thread.sleep(forTimeInterval: 0.25)
            other = try f.ingest(server, file: f.write("other.z", Self.batch(inflatedMiB: 2).deflated()))
        }
        #expect(other.status == 503 && other.body.contains("retry later"), "\(other.status) \(other.body)")
        _ = slow[part...].withUnsafeBytes { Glibc.send(c.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var answer = ""
        for _ in 0..<100 where !answer.contains("\r\n\r\n{") { answer += c.read() ?? "" }
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(300))")
        // Once the first is done, the second goes through.
        #expect(try f.ingest(server, file: f.write("other.z", Self.batch(inflatedMiB: 2).deflated())).status == 200)
    }

    @Test func theWebhookHoldsNoMoreThanTheBodyLimit() throws {
        let f = try AggregatorFixture()
        let server = try f.start(["--max-body-bytes", "1000000"])
        defer { server.stop() }
        let events = try Fixtures.text("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").split(separator: "\n")
        let items = Array(repeating: events.joined(separator: ","), count: 20).joined(separator: ",")
        let list = Data((#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["# + items + "]}").utf8)
        #expect(list.count > 1_000_000)
        let r = try Curl.request(server.baseURL + "/v1/audit/webhook", headers: ["Authorization": "Bearer \(f.webhookToken)"], body: list)
        #expect(r.status == 413, "\(r.status) \(r.body)")
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 0)
    }
}
