import Foundation
import KubetrailStore
import KubetrailTables

/// Commits batches on its own thread so that parsing (the caller) and inserting overlap on two
/// cores. At most `capacity` batches wait; a caller that gets ahead blocks, so memory stays flat.
/// One waiting batch is enough: the writer is the slower side, and a second one only held
/// another 10,000 prepared rows (a 1 M-event import peaked at 315 MiB with two, 278 with one).
final class PipelinedWriter<R: TableRow>: @unchecked Sendable {
    /// Rows come prepared (`PreparedRow`): the values and the audit row hash are built on the
    /// caller's thread, leaving the writer only the insert.
    enum Op: Sendable { case insert(PreparedRow<R>), delete(String) }

    struct Counts: Sendable { var inserted = 0, updated = 0, duplicates = 0, deleted = 0 }

    private let store: any Store
    private let capacity: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var queue: [[Op]] = []
    private var closed = false
    private var failure: (any Error)?
    private var counts = Counts()
    private var thread: Thread?

    init(store: any Store, capacity: Int = 1) {
        self.store = store
        self.capacity = capacity
    }

    /// Queues a batch; throws the writer's error if an earlier batch failed.
    func submit(_ ops: [Op]) throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        if thread == nil {
            // The thread keeps the writer alive until it has drained and exited.
            let t = Thread { self.loop() }
            t.name = "kubetrail-writer"
            thread = t
            t.start()
        }
        while queue.count >= capacity && failure == nil { condition.wait() }
        if let failure { throw failure }
        queue.append(ops)
        condition.broadcast()
    }

    /// Waits until every queued batch is committed and the thread has ended. Returns what was
    /// committed together with the first error, so a caller can report both.
    func finish() -> (Counts, (any Error)?) {
        condition.lock()
        defer { condition.unlock() }
        closed = true
        condition.broadcast()
        while thread != nil { condition.wait() }
        closed = false
        let result = counts
        counts = Counts()
        return (result, failure)
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty && closed {
                thread = nil
                condition.broadcast()
                condition.unlock()
                return
            }
            let ops = queue.removeFirst()
            condition.broadcast()
            condition.unlock()

            let result = Result { try commit(ops) }

            condition.lock()
            switch result {
            case .success(let c):
                counts.inserted += c.inserted
                counts.updated += c.updated
                counts.duplicates += c.duplicates
                counts.deleted += c.deleted
            case .failure(let error):
                failure = error
                queue.removeAll()
            }
            condition.broadcast()
            let stop = failure != nil
            if stop { thread = nil }
            condition.unlock()
            if stop { return }
        }
    }

    private func commit(_ ops: [Op]) throws -> Counts {
        try store.write { writer in
            var c = Counts()
            // Runs of inserts go to the store together (one COPY on PostgreSQL), in order with the deletes.
            var run: [PreparedRow<R>] = []
            func flush() throws {
                for outcome in try writer.insert(run) {
                    switch outcome {
                    case .inserted: c.inserted += 1
                    case .updated: c.updated += 1
                    // A conflicting audit event is kept apart (kubetrail_audit_conflicts), not stored as a row.
                    case .duplicate, .conflict: c.duplicates += 1
                    }
                }
                run.removeAll(keepingCapacity: true)
            }
            for op in ops {
                switch op {
                case .insert(let row):
                    run.append(row)
                case .delete(let id):
                    try flush()
                    if try writer.delete(table: R.schema, id: id) { c.deleted += 1 }
                }
            }
            try flush()
            return c
        }
    }
}
