import KubetrailCore
import Testing
@testable import KubetrailAgent

/// The reply document as the aggregator writes it (`commitAndReply`), and what is not it.
@Suite struct IngestReplyTests {
    static let id = "5f2b0c1e9a7d4e3f8b6a1c2d3e4f5a6b"

    static func reply(id: String = id, records: Int = 3, rejected: Int = 0, rejections: String = "") -> [UInt8] {
        Array(
            #"{"batch_id":"\#(id)","records":\#(records),"duplicate":false,"stored":{"kubernetes_audit_logs":\#(records - rejected),"kubernetes_pod_logs":0},"duplicates":0,"rejected":\#(rejected),"rejections":[\#(rejections)]}"#
                .utf8)
    }

    @Test func theAggregatorsReplyForTheBatchSentAcknowledgesIt() throws {
        let ack = try IngestReply.acknowledgement(of: Self.reply(), batchID: Self.id, records: 3)
        #expect(ack == IngestReply(batchID: Self.id, records: 3, storedAudit: 3))
        let duplicate = Array(
            #"{"batch_id":"\#(Self.id)","records":3,"duplicate":true,"stored":{"kubernetes_audit_logs":0,"kubernetes_pod_logs":0},"duplicates":0,"rejected":0,"rejections":[]}"#
                .utf8)
        #expect(try IngestReply.acknowledgement(of: duplicate, batchID: Self.id, records: 3).duplicate)
        let rejecting = Self.reply(rejected: 1, rejections: #"{"reason":"truncated_by_agent","path":"/a","offset":0,"detail":"x"}"#)
        let partial = try IngestReply.acknowledgement(of: rejecting, batchID: Self.id, records: 3)
        #expect(partial.rejected == 1 && partial.firstRejection == "truncated_by_agent at /a:0: x", "\(partial)")
    }

    @Test(arguments: [
        "ok",
        "",
        "<html>200 OK</html>",
        #"{"status":"ok"}"#,
        #"{"batch_id":null,"records":3,"duplicate":false,"rejected":0}"#,
        #"{"batch_id":"5f2b0c1e9a7d4e3f8b6a1c2d3e4f5a6b","records":"3","duplicate":false,"rejected":0}"#,
        #"{"batch_id":"5f2b0c1e9a7d4e3f8b6a1c2d3e4f5a6b","records":3,"duplicate":false,"rejected":0} trailing"#,
        #"[{"batch_id":"5f2b0c1e9a7d4e3f8b6a1c2d3e4f5a6b","records":3,"duplicate":false,"rejected":0}]"#
    ])
    func anythingElseIsRefused(body: String) {
        #expect(throws: IngestReply.Refusal.self) { try IngestReply.acknowledgement(of: Array(body.utf8), batchID: Self.id, records: 3) }
    }

    @Test func anotherBatchOrAnotherRecordCountIsRefused() {
        #expect(throws: IngestReply.Refusal.self) {
            try IngestReply.acknowledgement(of: Self.reply(id: "0123456789abcdef0123456789abcdef"), batchID: Self.id, records: 3)
        }
        #expect(throws: IngestReply.Refusal.self) { try IngestReply.acknowledgement(of: Self.reply(records: 2), batchID: Self.id, records: 3) }
    }

    @Test func peerTextIsBoundedFlatAndWithoutTheToken() {
        let text = PeerText.excerpt("a\nb Bearer s3cret\r\n" + String(repeating: "x", count: 1000), hiding: "s3cret")
        #expect(text.hasPrefix("a b Bearer [token]  "))
        #expect(text.count == 300 && !text.contains("s3cret") && !text.contains("\n"))
    }
}
