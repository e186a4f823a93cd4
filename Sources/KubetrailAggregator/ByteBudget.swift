import Foundation

/// Memory for batches being decoded, shared by concurrent requests: each holds a reservation it
/// grows as it decodes (inflated bytes, plus a charge per record for the row it becomes) and
/// gives back when its reply is sent. A request that would pass the limit because of others is
/// turned away (503, retry); one that would pass it alone can never fit (413).
final class ByteBudget: @unchecked Sendable {
    /// What a decoded record costs beyond its bytes: the row's fields, measured at about 700 bytes
    /// for a short container log line (30 MiB of 100-byte lines took ~200 MiB resident).
    static let recordOverhead = 768

    enum Refusal: Error {
        case busy
        case tooLarge
    }

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

    fileprivate func take(_ n: Int, holding: Int) throws(Refusal) {
        lock.lock()
        defer { lock.unlock() }
        if holding + n > limit { throw .tooLarge }
        if used + n > limit { throw .busy }
        used += n
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

        func take(_ n: Int) throws(Refusal) {
            try budget.take(n, holding: held)
            held += n
        }

        func release() {
            budget.give(held)
            held = 0
        }
    }
}
