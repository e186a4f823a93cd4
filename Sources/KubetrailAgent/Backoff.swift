import KubetrailCore

/// Jittered exponential backoff: `minimum` doubling to `maximum`, each wait drawn from
/// [half, full] of the current step so many agents restarting together do not retry in step.
struct Backoff {
    let minimum: Double
    let maximum: Double
    private var step: Double
    private var random: SplitMix64

    init(minimum: Double, maximum: Double, seed: UInt64) {
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        step = minimum
        random = SplitMix64(seed: seed)
    }

    /// The next wait; `retryAfter` (from the server) is honoured when longer, up to `maximum`.
    mutating func next(retryAfter: Double? = nil) -> Double {
        let fraction = Double(random.next() >> 11) / Double(1 << 53)
        var wait = step * (0.5 + 0.5 * fraction)
        if let r = retryAfter, r > wait { wait = min(r, maximum) }
        step = min(step * 2, maximum)
        return wait
    }

    mutating func reset() { step = minimum }
}
