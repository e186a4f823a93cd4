import Foundation
import KubetrailCore

/// Resumes suspended readers on a thread of normal priority, for producers that run at a low
/// one (followers).
///
/// Resuming a continuation queues the task on Swift's global executor, and libdispatch starts
/// a new worker thread from the thread that queued it when its pool needs one; a new thread
/// inherits its creator's nice value and scheduling class. A follower resuming its reader
/// directly could so leave low-priority workers in the shared pool, which then ran ingest.
final class ResumeThread: @unchecked Sendable {
    /// Started on first use: touch it from a thread of normal priority (`TailFollower.start`
    /// does, on the request's task, before the follower's thread exists).
    static let shared = ResumeThread()

    private let condition = NSCondition()
    private var pending: [() -> Void] = []

    private init() {
        let thread = Thread { [self] in run() }
        thread.name = "kubetrail-resume"
        thread.start()
    }

    /// Runs `work` on this thread, soon.
    func resume(_ work: @escaping () -> Void) {
        condition.lock()
        pending.append(work)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        CurrentThread.name("kubetrail-resume")
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            condition.unlock()
            for work in batch { work() }
        }
    }
}
