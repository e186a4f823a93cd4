import Foundation
import KubetrailCore

/// How long a reflector waits after a failed list or watch: client-go's
/// `wait.NewExponentialBackoffManager(800ms, 30s, 2m, 2.0, 1.0)` (release-1.32). The wait
/// doubles from 800 ms to at most 30 s, plus up to as much again of jitter, and starts over once
/// two minutes passed since the last one: an API server that comes back is listed again within
/// a second, one that stays down is asked twice a minute, not every second by every kind.
public struct ReflectorBackoff: Sendable {
    public var initial: Double
    public var cap: Double
    public var resetAfter: Double
    public var factor: Double
    /// Up to `jitter` × the wait is added at random, so reflectors that failed together do not
    /// retry together.
    public var jitter: Double

    public init(initial: Double = 0.8, cap: Double = 30, resetAfter: Double = 120, factor: Double = 2, jitter: Double = 1) {
        self.initial = initial
        self.cap = cap
        self.resetAfter = resetAfter
        self.factor = factor
        self.jitter = jitter
    }

    public static let clientGo = ReflectorBackoff()
}

/// A backoff in use: the last wait, and when it began.
struct BackoffState {
    let policy: ReflectorBackoff
    private var current: Double?
    private var lastAt: Date?

    init(_ policy: ReflectorBackoff) { self.policy = policy }

    /// The next wait at `now`.
    mutating func next(now: Date, random: inout SplitMix64) -> Double {
        if let lastAt, now.timeIntervalSince(lastAt) > policy.resetAfter { current = nil }
        let base = current.map { min(policy.cap, $0 * policy.factor) } ?? policy.initial
        current = base
        lastAt = now
        let unit = Double(random.next() >> 11) / Double(1 << 53)
        return base + unit * policy.jitter * base
    }
}

/// Time as a reflector sees it: the seam its tests replace, so a backoff is checked without
/// waiting for it.
public protocol ReflectorClock: Sendable {
    var now: Date { get }
    /// Waits `seconds`; a test's clock may throw to end the run.
    func sleep(_ seconds: Double) throws
}

public struct SystemClock: ReflectorClock {
    public init() {}
    public var now: Date { Date() }
    public func sleep(_ seconds: Double) { Thread.sleep(forTimeInterval: seconds) }
}
