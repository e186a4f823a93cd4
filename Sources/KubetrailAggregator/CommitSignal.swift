import Foundation

/// Counts this aggregator's commits, so followers waiting for changes wake as one lands
/// instead of at their next poll.
final class CommitSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var generation: UInt64 = 0

    func signal() {
        condition.lock()
        generation &+= 1
        condition.broadcast()
        condition.unlock()
    }

    var current: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }

    /// Waits until a commit after `seen`, or `timeout` seconds.
    func wait(after seen: UInt64, timeout: TimeInterval) {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        while generation == seen, condition.wait(until: deadline) {}
        condition.unlock()
    }
}
