import Foundation
import KubetrailCore
import Testing
@testable import KubetrailKube

/// The reflector's backoff as client-go's (800 ms doubling to 30 s, jitter up to as much again,
/// reset after two minutes), checked on a clock the test owns: no test waits for it.
@Suite struct ReflectorBackoffTests {
    @Test func waitsDoubleToTheCapAndStartOverAfterTwoQuietMinutes() {
        var state = BackoffState(ReflectorBackoff(jitter: 0))
        var random = SplitMix64(seed: 1)
        var now = Date(timeIntervalSince1970: 0)
        var waits: [Double] = []
        for _ in 0..<8 {
            let w = state.next(now: now, random: &random)
            waits.append(w)
            now += w
        }
        #expect(waits == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30])
        now += 121
        #expect(state.next(now: now, random: &random) == 0.8)
    }

    @Test func jitterAddsUpToAsMuchAgain() {
        var state = BackoffState(.clientGo)
        var random = SplitMix64(seed: 7)
        var now = Date(timeIntervalSince1970: 0)
        var base = 0.8
        var jittered = false
        for _ in 0..<12 {
            let w = state.next(now: now, random: &random)
            #expect(w >= base && w <= 2 * base)
            jittered = jittered || w > base
            now += w
            base = min(30, base * 2)
        }
        #expect(jittered)
    }

    /// A reflector whose API server refuses connections backs off on the clock it was given.
    @Test func aReflectorBacksOffOnItsClockWhileTheServerIsDown() throws {
        let clock = RecordingClock(stopAfter: 6)
        let client = KubeClient(connection: ClusterConnection(server: "http://127.0.0.1:1", namespace: "default", contextName: nil))
        let reflector = Reflector(client: client, path: "/api/v1/namespaces", clock: clock)
        #expect(throws: RecordingClock.Enough.self) { try reflector.run { _ in } }
        let waits = clock.waits
        #expect(waits.count == 6)
        var base = 0.8
        for w in waits {
            #expect(w >= base && w <= 2 * base, "\(waits)")
            base *= 2
        }
    }
}

/// A clock that records each wait instead of waiting, and ends the run after a few.
final class RecordingClock: ReflectorClock, @unchecked Sendable {
    struct Enough: Error {}
    private let lock = NSLock()
    private var recorded: [Double] = []
    private var time = Date(timeIntervalSince1970: 1_000_000)
    let stopAfter: Int

    init(stopAfter: Int) { self.stopAfter = stopAfter }

    var now: Date { lock.withLock { time } }
    var waits: [Double] { lock.withLock { recorded } }

    func sleep(_ seconds: Double) throws {
        try lock.withLock {
            recorded.append(seconds)
            time += seconds
            if recorded.count >= stopAfter { throw Enough() }
        }
    }
}
