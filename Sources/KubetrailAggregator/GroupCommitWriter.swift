import Foundation
import KubetrailCore
import KubetrailStore
import KubetrailTables

/// The store's single writer. Batches from concurrent requests queue here and are committed
/// together — one fsync for many batches — and each request is answered only after the
/// transaction holding its rows is durable. When the queue is full the caller is told to back
/// off (503) rather than being acknowledged for something not yet on disk.
public final class GroupCommitWriter: @unchecked Sendable {
    public enum Outcome: Sendable, Equatable {
        case stored(audit: Int, podLogs: Int, duplicates: Int, conflicts: Int)
        case duplicateBatch
    }

    public enum Failure: Error, Sendable, Equatable {
        case overloaded
        case storage(String)
    }

    private struct Pending {
        var batch: PreparedBatch
        var continuation: CheckedContinuation<Outcome, any Error>
    }

    /// A batch whose rows were prepared (`PreparedRow`) on the requester's thread, so the one
    /// commit thread only inserts.
    private struct PreparedBatch {
        var batchID: String?
        var node: String
        var records: Int
        var audit: [PreparedRow<AuditLogRow>]
        var podLogs: [PreparedRow<PodLogRow>]
        var rowCount: Int { audit.count + podLogs.count }

        init(_ batch: IngestBatch, for store: any Store) {
            batchID = batch.batchID
            node = batch.node
            records = batch.records
            audit = batch.audit.map { store.prepare($0) }
            podLogs = batch.podLogs.map { store.prepare($0) }
        }
    }

    private let store: any Store
    private let maxQueuedRows: Int
    private let maxRowsPerCommit: Int
    private let condition = NSCondition()
    private var queue: [Pending] = []
    private var queuedRows = 0
    private var stopped = false
    private var thread: Thread?
    /// Called after each commit with (batches, rows, seconds): feeds the metrics.
    public var onCommit: (@Sendable (Int, Int, Double) -> Void)?

    public init(store: any Store, maxQueuedRows: Int = 200_000, maxRowsPerCommit: Int = 50_000) {
        self.store = store
        self.maxQueuedRows = maxQueuedRows
        self.maxRowsPerCommit = maxRowsPerCommit
    }

    public var queueDepth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queuedRows
    }

    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil else { return }
        let t = Thread {
            CurrentThread.name("kubetrail-commit")
            self.loop()
        }
        t.name = "kubetrail-commit"
        thread = t
        t.start()
    }

    /// Finishes what is queued, then ends the thread.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while thread != nil { condition.wait() }
        condition.unlock()
    }

    public func commit(_ batch: IngestBatch) async throws -> Outcome {
        let batch = PreparedBatch(batch, for: store)
        return try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            defer { condition.unlock() }
            // An empty queue always admits one batch, however large, so nothing is starved.
            if stopped || (queuedRows > 0 && queuedRows + batch.rowCount > maxQueuedRows) {
                continuation.resume(throwing: Failure.overloaded)
                return
            }
            queue.append(Pending(batch: batch, continuation: continuation))
            queuedRows += batch.rowCount
            condition.broadcast()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                thread = nil
                condition.broadcast()
                condition.unlock()
                return
            }
            // Take as many batches as fit one commit (at least one).
            var group: [Pending] = []
            var rows = 0
            while let next = queue.first, group.isEmpty || rows + next.batch.rowCount <= maxRowsPerCommit {
                group.append(queue.removeFirst())
                rows += next.batch.rowCount
            }
            condition.unlock()

            let started = Date()
            let result = Result { try write(group.map(\.batch)) }
            let elapsed = Date().timeIntervalSince(started)

            condition.lock()
            queuedRows -= rows
            condition.unlock()
            switch result {
            case .success(let outcomes):
                onCommit?(group.count, rows, elapsed)
                for (p, o) in zip(group, outcomes) { p.continuation.resume(returning: o) }
            case .failure(let error) where group.count == 1:
                // Nothing of it is stored; the agent resends after the 503.
                group[0].continuation.resume(throwing: Failure.storage("\(error)"))
            case .failure:
                // One batch must not sink the others it was grouped with (one cluster's chain
                // refused, one bad row): each is tried on its own.
                for p in group {
                    switch Result(catching: { try write([p.batch]) }) {
                    case .success(let outcomes): p.continuation.resume(returning: outcomes[0])
                    case .failure(let error): p.continuation.resume(throwing: Failure.storage("\(error)"))
                    }
                }
            }
        }
    }

    private func write(_ batches: [PreparedBatch]) throws -> [Outcome] {
        try store.write { w in
            try batches.map { batch -> Outcome in
                if let id = batch.batchID {
                    guard try w.recordBatch(id: id, node: batch.node, records: batch.records) else { return .duplicateBatch }
                }
                var audit = 0, logs = 0, duplicates = 0, conflicts = 0
                for outcome in try w.insert(batch.audit) {
                    switch outcome {
                    case .duplicate: duplicates += 1
                    case .conflict: conflicts += 1
                    case .inserted, .updated: audit += 1
                    }
                }
                for outcome in try w.insert(batch.podLogs) {
                    if outcome == .duplicate { duplicates += 1 } else { logs += 1 }
                }
                return .stored(audit: audit, podLogs: logs, duplicates: duplicates, conflicts: conflicts)
            }
        }
    }
}
