import Foundation
import Synchronization

/// The streams of one audit scan (`Store.scanAudit` with `streams` above 1): each read over a
/// connection of its own and run on a thread of its own; the first error stops the others at
/// their next row and is the one thrown.
final class ScanStreams: @unchecked Sendable {
    private let lock = NSLock()
    private var first: Error?
    private let flag = Atomic<Bool>(false)

    /// Whether a stream has failed: read for every row, so an atomic.
    var failed: Bool { flag.load(ordering: .relaxed) }

    func record(_ error: Error) {
        lock.withLock { if first == nil { first = error } }
        flag.store(true, ordering: .relaxed)
    }

    /// Runs `part` for streams `0..<count` at once and waits for all of them.
    func run(_ count: Int, _ part: (Int) throws -> Void) throws {
        // Each stream touches only its own connection and state; the closure outlives the wait.
        withoutActuallyEscaping(part) { part in
            let parts = UncheckedParts(run: part)
            DispatchQueue.concurrentPerform(iterations: count) { k in
                do { try parts.run(k) } catch { record(error) }
            }
        }
        if let error = lock.withLock({ first }) { throw error }
    }
}

/// A scan's per-stream work, handed to the threads that run it.
private struct UncheckedParts: @unchecked Sendable {
    let run: (Int) throws -> Void
}
