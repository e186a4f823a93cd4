import Synchronization

/// The queries and exports an aggregator runs at once. Each holds a thread, a SQLite connection
/// and its cache, and (for `format=json`) up to a whole buffered answer: past the cap a request
/// is turned away at once with 503 rather than queued, so a burst cannot exhaust memory or
/// starve ingest of CPU.
final class QuerySlots: Sendable {
    /// One per aggregator (keyed by identity: `Aggregator` keeps only its configuration).
    private static let perAggregator = Mutex<[ObjectIdentifier: QuerySlots]>([:])

    static func of(_ aggregator: Aggregator) -> QuerySlots {
        perAggregator.withLock { table in
            if let slots = table[ObjectIdentifier(aggregator)] { return slots }
            let slots = QuerySlots(limit: aggregator.configuration.maxConcurrentQueries)
            table[ObjectIdentifier(aggregator)] = slots
            return slots
        }
    }

    let limit: Int
    private let running = Atomic<Int>(0)

    init(limit: Int) { self.limit = max(1, limit) }

    var inUse: Int { running.load(ordering: .relaxed) }

    /// A slot, or nil when all are taken.
    func acquire() -> Slot? {
        var current = running.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, found) = running.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return Slot(self) }
            current = found
        }
        return nil
    }

    /// Held until the query's thread is done with SQLite, not just until its response is sent.
    final class Slot: Sendable {
        private let owner: QuerySlots
        private let released = Atomic<Bool>(false)
        fileprivate init(_ owner: QuerySlots) { self.owner = owner }

        func release() {
            if !released.exchange(true, ordering: .acquiringAndReleasing) {
                owner.running.subtract(1, ordering: .acquiringAndReleasing)
            }
        }

        deinit { release() }
    }
}
