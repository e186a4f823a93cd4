import Foundation

/// Runs `body` now and then every `interval` seconds on a thread of its own (blocking SQLite
/// work stays off Swift's shared executors) until `stop()`, which waits for a run in progress.
final class PeriodicThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false
    private var finished = false

    init(name: String, interval: Double, _ body: @escaping @Sendable () -> Void) {
        let t = Thread { [self] in
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
