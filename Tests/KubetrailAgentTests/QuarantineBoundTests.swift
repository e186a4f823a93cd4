import Foundation
import Testing
import TestSupport
@testable import KubetrailAgent

/// An aggregator that refuses everything must not fill the node's disk with quarantine files.
@Suite(.serialized) struct QuarantineBoundTests {
    @Test func theQuarantineStaysWithinItsBoundAndRefusalsAfterThatAreCountedAndLogged() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        let refuser = try FakeAggregator(status: 422, body: #"{"error":"refused for the test"}"#)
        defer { refuser.stop() }
        let bound = 6000
        // ~1 KiB batches: 60 events make about 30 refused batches of some 650 bytes on disk each.
        try node.startAgent(aggregator: refuser.url, ["--max-quarantine-bytes", String(bound), "--batch-bytes", "1024"])
        LineWriter.append(node.auditDir + "/audit.log", (0..<60).map { LineWriter.auditEvent($0) })
        #expect(
            node.waitUntil(30) { (node.agent?.metric("kubetrail_agent_quarantine_full_dropped_batches_total") ?? 0) >= 3 },
            "\(node.agent?.log ?? "")")
        #expect((node.agent?.metric("kubetrail_agent_batches_quarantined_total") ?? 0) >= 1)
        #expect(node.agent?.stop() == 0)
        #expect(node.agent?.log.contains("the quarantine is full; the batch is dropped") == true)
        let dir = node.stateDir + "/quarantine"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        let used = try names.reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: dir + "/" + $1)[.size] as? Int) ?? 0) }
        #expect(used <= bound, "\(names.count) files, \(used) bytes")
        #expect(names.contains { $0.hasSuffix(".ktwb.zz") })
    }

    @Test func aBatchThatDoesNotFitIsRefusedAndWhatIsKeptStays() throws {
        let dir = try TemporaryDirectory()
        let quarantine = Quarantine(directory: dir.path("q"), maxBytes: 2000)
        func batch(_ id: String, bytes: Int) -> OutgoingBatch {
            OutgoingBatch(
                sequence: 1, body: [UInt8](repeating: 7, count: bytes), raw: .empty, rawBytes: bytes, records: 1,
                batchID: id, ends: [], node: "n", cluster: "")
        }
        let kept = try quarantine.store(batch("first", bytes: 1000), status: 422, reply: "no")
        #expect(throws: Quarantine.Full.self) { try quarantine.store(batch("second", bytes: 1000), status: 422, reply: "no") }
        #expect(quarantine.batches() == [kept])
        #expect(quarantine.usedBytes() <= 2000)
        #expect(Quarantine.noteFacts(of: kept)?.batchID == "first")
    }
}
