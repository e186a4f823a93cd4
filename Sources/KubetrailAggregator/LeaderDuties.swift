import Foundation
import KubetrailStore
import Logging

/// What one aggregator does for all of them — the Kubernetes API pollers, audit events read
/// from pod logs, digests, retention — run by whichever replica holds the store's leader lock,
/// checked every few seconds: when the leader dies its lock goes with its session and another
/// replica takes the duties over. A store only one process writes (SQLite) has no lock: its
/// aggregator always leads.
final class LeaderDuties: @unchecked Sendable {
    private let lock: (any LeaderLock)?
    private let interval: Double
    private let logger: Logger
    private let begin: () -> Void
    private let end: () -> Void
    private let state = NSLock()
    private var leading = false
    private var thread: PeriodicThread?

    init(lock: (any LeaderLock)?, interval: Double, logger: Logger, begin: @escaping () -> Void, end: @escaping () -> Void) {
        self.lock = lock
        self.interval = interval
        self.logger = logger
        self.begin = begin
        self.end = end
    }

    func start() {
        guard lock != nil else { return transition(to: true) }
        thread = PeriodicThread(name: "kubetrail-leader", interval: interval) { [self] in check() }
    }

    private func check() {
        guard let lock else { return }
        transition(to: lock.tryAcquire())
    }

    private func transition(to lead: Bool) {
        state.lock()
        let was = leading
        leading = lead
        state.unlock()
        if lead && !was {
            if lock != nil { logger.notice("leading: this aggregator runs the pollers, digests and retention for the store") }
            begin()
        } else if !lead && was {
            logger.warning("no longer leading (the store's leader lock was lost); stopping the pollers, digests and retention")
            end()
        }
    }

    /// Stops the duties if this process leads, and lets the lock go for another replica.
    func stop() {
        thread?.stop()
        state.lock()
        let was = leading
        leading = false
        state.unlock()
        if was { end() }
        lock?.release()
    }

    var isLeading: Bool {
        state.lock()
        defer { state.unlock() }
        return leading
    }
}
