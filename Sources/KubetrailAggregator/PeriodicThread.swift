import Foundation
import KubetrailCore

/// Runs `body` now and then every `interval` seconds on a thread of its own (blocking SQLite
/// work stays off Swift's shared executors) until `stop()`, which waits for a run in progress.
final class PeriodicThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false
    private var finished = false

    /// `nice` above 0 lowers the thread's CPU priority (`CurrentThread.yieldCPU`).
    init(name: String, interval: Double, nice: Int32 = 0, _ body: @escaping @Sendable () -> Void) {
        let t = Thread { [self] in
            CurrentThread.name(name)
            if nice > 0 { CurrentThread.yieldCPU(nice: nice) }
            while true {
                body()
                condition.lock()
                if !stopped { _ = condition.wait(until: Date().addingTimeInterval(interval)) }
                let done = stopped
                if done { finished = true; condition.broadcast() }
                condition.unlock()
                if done { return }
            }
        }
        t.name = name
        t.start()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }
}
