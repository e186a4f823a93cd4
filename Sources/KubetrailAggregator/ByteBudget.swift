import Foundation

/// A count of bytes shared by concurrent requests, each holding a reservation it grows as it
/// decodes and gives back when done. A request that would pass the limit is turned away (503)
/// instead of the aggregator growing past its memory limit.
final class ByteBudget: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var used = 0

    init(limit: Int) { self.limit = limit }

    var inUse: Int {
        lock.lock()
        defer { lock.unlock() }
        return used
    }

    func reservation() -> Reservation { Reservation(budget: self) }

    fileprivate func take(_ n: Int, holding: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        // One request alone may always use up to the whole limit, so no batch is refused forever.
        guard used + n <= limit || used == holding else { return false }
        used += n
        return true
    }

    fileprivate func give(_ n: Int) {
        lock.lock()
        used -= n
        lock.unlock()
    }

    final class Reservation: @unchecked Sendable {
        let budget: ByteBudget
        private(set) var held = 0

        init(budget: ByteBudget) { self.budget = budget }

        func take(_ n: Int) -> Bool {
            guard budget.take(n, holding: held) else { return false }
            held += n
            return true
        }

        func release() {
            budget.give(held)
            held = 0
        }
    }
}
