import Foundation
@testable import KubetrailCore
import Testing
import TestSupport
@testable import KubetrailAgent

/// The shipper in-process against a scripted aggregator (`IngestTransport`): which answers
/// acknowledge a batch, which are retried, which split or quarantine it, and in what order.
@Suite struct ShipperTests {
    /// Answers each POST with the next scripted answer; past the script, a genuine reply.
    final class ScriptedAggregator: IngestTransport, @unchecked Sendable {
        enum Answer {
            case fail(String)
            case status(Int, String)
            case genuine
            case namingAnotherBatch
        }

        struct Received {
            var batchID: String
            var records: [(identity: String, offset: UInt64)]
            var authorization: String?
        }

        private let lock = NSLock()
        private var script: [Answer]
        private(set) var received: [Received] = []

        init(_ script: [Answer]) { self.script = script }

        var requests: [Received] { lock.withLock { received } }

        func post(_ url: String, body: [UInt8], headers: [(String, String)]) throws -> HTTPReply {
            var decoder = WireBatchDecoder()
            var records: [(String, UInt64)] = []
            try decoder.feed(try Inflater.inflate(body, format: .zlib)) { r in records.append((r.header.sources[r.source].identity, r.offset)) }
            try decoder.finish()
            let id = decoder.batchID ?? ""
            let answer: Answer = lock.withLock {
                received.append(Received(batchID: id, records: records, authorization: headers.first { $0.0 == "Authorization" }?.1))
                return script.isEmpty ? .genuine : script.removeFirst()
            }
            func reply(_ status: Int, _ text: String) -> HTTPReply {
                HTTPReply(status: status, body: Array(text.utf8))
            }
            switch answer {
            case .fail(let message): throw TransportFailure(message, retryable: true)
            case .status(let status, let text): return reply(status, text)
            case .genuine: return reply(200, IngestReply(batchID: id, records: records.count).encoded())
            case .namingAnotherBatch: return reply(200, IngestReply(batchID: "0123456789abcdef", records: records.count).encoded())
            }
        }
    }

    struct Harness {
        let dir: TemporaryDirectory
        let metrics = AgentMetrics()
        let buffers = BatchBufferPool(maxBytes: 1 << 20)
        /// Where each sealed batch's records were (the batches themselves are not kept).
        let sealedAt = LockedArray<UInt>()
        let shipper: Shipper
        let aggregator: ScriptedAggregator

        init(_ script: [ScriptedAggregator.Answer]) throws {
            dir = try TemporaryDirectory()
            aggregator = ScriptedAggregator(script)
            let token = try dir.write("token", "ingest-secret\n")
            let settings = Shipper.Settings(
                url: "http://aggregator.invalid/v1/ingest", tokenFile: token, caFile: nil, compressionLevel: 1, backoffMinimum: 0.001,
                backoffMaximum: 0.002, requestTimeout: 1, quarantineDirectory: dir.path("quarantine"), quarantineMaxBytes: 1 << 20)
            let aggregator = self.aggregator
            shipper = Shipper(settings: settings, metrics: metrics, wake: try WakeSignal(), buffers: buffers, transport: { _ in aggregator })
            try shipper.start()
        }

        /// Batches of `records` lines each from one file, sealed in order; their ids.
        func send(_ counts: [Int]) -> [String] {
            var builder = BatchBuilder(node: "n1", cluster: "c1", expectedBytes: 64 << 10, buffers: buffers)
            let source = WireFormat.Source(kind: .containerLogLine, path: "/var/log/pods/a/b/0.log", identity: "8:1:1")
            var offset: UInt64 = 0
            var sealed: [String] = []
            for count in counts {
                for i in 0..<count {
                    let line = Array("2026-12-06T00:00:00Z stdout F line \(i)".utf8)
                    line.withUnsafeBytes { bytes in
                        builder.add(
                            source, key: "8:1:1",
                            record: RecordFramer.Record(offset: offset, bytes: bytes, end: offset + UInt64(line.count) + 1, truncated: false))
                    }
                    offset += UInt64(line.count) + 1
                }
                let batch = builder.seal()
                sealedAt.append(address(of: batch.raw.records))
                sealed.append(batch.batchID)
                // Moved: a reference kept here until the loop goes on would make the compressor's
                // hand-back copy the buffer rather than keep it.
                shipper.enqueue(consume batch)
            }
            return sealed
        }

        /// What was acknowledged within `seconds`, once `count` batches were.
        func acknowledged(_ count: Int, within seconds: Double = 20) -> [OutgoingBatch] {
            var done: [OutgoingBatch] = []
            let deadline = Date().addingTimeInterval(seconds)
            while done.count < count && Date() < deadline {
                done += shipper.takeAcknowledged()
                Thread.sleep(forTimeInterval: 0.005)
            }
            return done
        }
    }

    @Test func onlyTheAggregatorsOwnReplyAcknowledgesAndEverythingElseIsRetriedInOrder() throws {
        let h = try Harness([
            .fail("connection refused"), .status(503, "busy"), .status(200, "ok"), .namingAnotherBatch, .status(401, "bad token")
        ])
        defer { h.shipper.abandon() }
        let sent = h.send([3, 2, 4])
        let done = h.acknowledged(3)
        #expect(done.map(\.batchID) == sent)
        // Five refused attempts of the first batch, then each batch once.
        #expect(h.aggregator.requests.map(\.batchID) == Array(repeating: sent[0], count: 6) + [sent[1], sent[2]])
        #expect(h.metrics.value(.retries) == 5 && h.metrics.value(.unconfirmedReplies) == 2)
        #expect(h.metrics.value(.batchesAcked) == 3 && h.metrics.value(.recordsAcked) == 9)
        #expect(h.aggregator.requests.allSatisfy { $0.authorization == "Bearer ingest-secret" })
    }

    @Test func aBatchTooLargeIsSentInHalvesThatEndWhereTheNextBegins() throws {
        let h = try Harness([.status(413, "too large")])
        defer { h.shipper.abandon() }
        let sent = h.send([10])
        #expect(h.acknowledged(1).map(\.batchID) == [sent[0]])
        let requests = h.aggregator.requests
        #expect(requests.map(\.records.count) == [10, 5, 5])
        // Every record once across the halves, in file order.
        #expect(requests[1].records.map(\.offset) + requests[2].records.map(\.offset) == requests[0].records.map(\.offset))
        #expect(h.metrics.value(.batchesSplit) == 1 && h.metrics.value(.recordsAcked) == 10)
    }

    @Test func aBatchRefusedForItsContentIsQuarantinedAndTheNextGoesOn() throws {
        let h = try Harness([.status(400, "{\"error\":\"bad magic\"}")])
        defer { h.shipper.abandon() }
        let sent = h.send([2, 3])
        // Quarantined counts as done: the checkpoint may move, the batch is on disk.
        #expect(h.acknowledged(2).map(\.batchID) == sent)
        let files = try FileManager.default.contentsOfDirectory(atPath: h.dir.path("quarantine")).sorted()
        #expect(files.count == 2 && files.allSatisfy { $0.contains(sent[0]) })
        let note = try #require(files.first { $0.hasSuffix(".txt") })
        #expect(try String(contentsOfFile: h.dir.path("quarantine/" + note), encoding: .utf8).contains("status 400"))
        #expect(h.metrics.value(.batchesQuarantined) == 1 && h.metrics.value(.batchesAcked) == 1)
    }

    /// A deflated batch's record buffer is filled again by a later batch, not made anew; an
    /// idle pool lets its buffers go, and one grown far past a batch is not kept.
    @Test func recordBuffersComeBackForTheNextBatches() throws {
        let h = try Harness([])
        defer { h.shipper.abandon() }
        let sent = h.send([50, 50, 50, 50])
        #expect(h.acknowledged(4).map(\.batchID) == sent)
        let deadline = Date().addingTimeInterval(10)
        while h.buffers.count < 1 && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        // The very storage a sealed batch had, not a copy of its size.
        var reused = try #require(h.buffers.take())
        #expect(reused.isEmpty && reused.capacity >= 64 << 10 && h.sealedAt.values.contains(address(of: reused)))
        h.buffers.give(&reused)
        #expect(reused.capacity == 0 && h.buffers.count >= 1)
        #expect(!h.buffers.trim(ifIdleFor: 60))
        #expect(h.buffers.trim(ifIdleFor: 0) && h.buffers.count == 0)
        var huge = [UInt8](repeating: 0, count: 4 << 20)
        h.buffers.give(&huge)
        #expect(h.buffers.count == 0 && huge.isEmpty)
    }

    @Test func abandonedWhileRetryingAcknowledgesNothing() throws {
        let h = try Harness(Array(repeating: .fail("connection refused"), count: 1000))
        _ = h.send([1])
        let deadline = Date().addingTimeInterval(10)
        while h.aggregator.requests.count < 3 && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        h.shipper.abandon()
        Thread.sleep(forTimeInterval: 0.1)
        let attempts = h.aggregator.requests.count
        Thread.sleep(forTimeInterval: 0.1)
        #expect(h.shipper.takeAcknowledged().isEmpty)
        #expect(h.aggregator.requests.count == attempts)  // it stopped sending
    }
}

/// Where an array's storage is: a reused buffer has an address seen before.
func address(of bytes: [UInt8]) -> UInt { bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }
