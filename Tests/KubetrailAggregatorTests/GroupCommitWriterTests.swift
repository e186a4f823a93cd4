import Foundation
import KubetrailAggregator
import KubetrailStore
import KubetrailTables
import Testing
import TestSupport

@Suite struct GroupCommitWriterTests {
    func batch(_ id: String, rows: Int) throws -> IngestBatch {
        var b = IngestBatch(batchID: id, node: "n")
        for i in 0..<rows {
            let json = #"{"auditID":"\#(id)-\#(i)","stage":"ResponseComplete","stageTimestamp":"2026-11-27T10:00:00Z"}"#
            AuditDecoder.decode(Array(json.utf8), context: IngestContext(sourceType: .auditFile)) { if case .row(let r) = $0 { b.audit.append(r) } }
        }
        b.records = rows
        return b
    }

    @Test func aFullQueueTurnsBatchesAwayInsteadOfAcknowledgingThem() async throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("w.db"), durability: .full)
        let writer = GroupCommitWriter(store: store, maxQueuedRows: 10)
        // Not started yet: queued batches cannot drain, so the queue's state is certain.
        let first = try batch("a", rows: 8)
        let pending = Task { try await writer.commit(first) }
        while writer.queueDepth == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        await #expect(throws: GroupCommitWriter.Failure.overloaded) { _ = try await writer.commit(try batch("b", rows: 5)) }
        writer.start()
        #expect(try await pending.value == .stored(audit: 8, podLogs: 0, duplicates: 0, conflicts: 0))
        #expect(try await writer.commit(try batch("b", rows: 5)) == .stored(audit: 5, podLogs: 0, duplicates: 0, conflicts: 0))
        #expect(try await writer.commit(try batch("b", rows: 5)) == .duplicateBatch)
        writer.stop()
        await #expect(throws: GroupCommitWriter.Failure.overloaded) { _ = try await writer.commit(try batch("c", rows: 1)) }
    }
}
