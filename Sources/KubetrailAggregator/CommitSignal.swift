import Foundation
import Synchronization

/// Counts this aggregator's commits, so followers waiting for changes wake as one lands
/// instead of at their next poll.
///
/// The commit thread never takes a lock here: followers run in the idle scheduling class, and
/// one preempted while holding a lock the commit thread needed would hold every commit until
/// the cores had time to spare. It counts with an atomic and wakes the waiters without the
/// lock; a follower that looked at the count just before a commit and waits just after it
/// misses that wake-up, and wakes at its poll timeout instead.
final class CommitSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private let generation = Atomic<UInt64>(0)

    func signal() {
        generation.add(1, ordering: .releasing)
        condition.broadcast()
    }

    var current: UInt64 { generation.load(ordering: .acquiring) }

    /// Waits until a commit after `seen`, or `timeout` seconds.
    func wait(after seen: UInt64, timeout: TimeInterval) {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        while current == seen, condition.wait(until: deadline) {}
        condition.unlock()
    }
}
