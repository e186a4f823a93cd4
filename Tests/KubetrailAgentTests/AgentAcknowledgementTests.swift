import Foundation
import Testing
import TestSupport

/// A 2xx from whatever answers at the aggregator's address is not a commit: only the
/// aggregator's reply document for the very batch sent moves checkpoints.
@Suite(.serialized) struct AgentAcknowledgementTests {
    static let impostorReplies = [
        "ok",
        // Well-formed, but for another batch.
        #"{"batch_id":"00000000000000000000000000000000","records":30,"duplicate":false,"stored":{"kubernetes_audit_logs":30,"kubernetes_pod_logs":0},"duplicates":0,"rejected":0,"rejections":[]}"#
    ]

    @Test(arguments: impostorReplies)
    func aTwoHundredThatIsNotTheAggregatorsReplyMovesNoCheckpoint(reply: String) throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        let impostor = try FakeAggregator(status: 200, body: reply)
        defer { impostor.stop() }
        try node.startAgent(aggregator: impostor.url)
        LineWriter.append(node.auditDir + "/audit.log", (0..<30).map { LineWriter.auditEvent($0) })
        #expect(
            node.waitUntil(30) { (node.agent?.metric("kubetrail_agent_unconfirmed_replies_total") ?? 0) >= 2 },
            "\(node.agent?.log ?? "")")
        #expect(node.agent?.metric("kubetrail_agent_batches_acked_total") == 0)
        #expect((node.agent?.metric("kubetrail_agent_retries_total") ?? 0) >= 2)
        #expect(node.agent?.stop() == 0)
        let log = node.agent?.log ?? ""
        #expect(log.contains("batch not delivered; retrying") && log.contains("without acknowledgement"))
        #expect(!log.contains(node.token))
        // The real aggregator, same state directory: every line is still owed, so all arrive.
        try node.startAggregator()
        try node.startAgent()
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 30 }, "\(node.agent?.log ?? "")")
        #expect((node.agent?.metric("kubetrail_agent_batches_acked_total") ?? 0) >= 1)
    }

    @Test func aPeerEchoingTheTokenDoesNotGetItIntoTheLog() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        let echo = try FakeAggregator(status: 503, body: "upstream said: {auth}")
        defer { echo.stop() }
        try node.startAgent(aggregator: echo.url)
        LineWriter.append(node.auditDir + "/audit.log", (0..<3).map { LineWriter.auditEvent($0) })
        #expect(node.waitUntil(30) { node.agent?.log.contains("upstream said: Bearer [token]") == true }, "\(node.agent?.log ?? "")")
        #expect(!(node.agent?.log.contains(node.token) ?? true))
    }
}
