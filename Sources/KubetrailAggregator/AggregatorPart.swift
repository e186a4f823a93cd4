import Foundation
import KubetrailCollect
import ServiceLifecycle

/// A long-running part of the aggregator (the commit writer, retention, digests, detection,
/// alert sinks, the API readers, the leader check), started and stopped one way. Each works on
/// threads of its own, because its store work blocks; `stop` returns once the part has
/// finished (committed what it held).
protocol AggregatorPart: AnyObject, Sendable {
    func start()
    /// Asks the part to finish without waiting, so several can wind down at once.
    func requestStop()
    func stop()
}

extension AggregatorPart {
    func requestStop() {}
}

/// Stops `parts` started in this order: all are asked at once (the API readers wind down
/// together), then each is waited for in reverse, so what the later ones wrote is committed
/// before the earlier ones (digests) finish.
func stopAll(_ parts: [any AggregatorPart]) {
    for part in parts { part.requestStop() }
    for part in parts.reversed() { part.stop() }
}

extension GroupCommitWriter: AggregatorPart {}
extension LeaderDuties: AggregatorPart {}
extension Retention: AggregatorPart {}
extension DigestService: AggregatorPart {}
extension DetectionService: AggregatorPart {}
extension AlertDispatcher: AggregatorPart {}

/// A part as a member of the aggregator's `ServiceGroup`: started with the group, stopped when
/// the group shuts down (in reverse order of the group's list, so the HTTP server, last in it,
/// stops taking requests before the writer behind it finishes), or when another member fails.
struct PartService: Service {
    let part: any AggregatorPart

    func run() async throws {
        part.start()
        // Returns at graceful shutdown; throws when the group is cancelled: stop either way.
        try? await gracefulShutdown()
        let part = self.part
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                part.stop()
                done.resume()
            }.start()
        }
    }
}

/// The Kubernetes API pollers: stopping waits for each to commit what it holds.
final class PollersPart: AggregatorPart, @unchecked Sendable {
    let pollers: ClusterPollers
    init(_ pollers: ClusterPollers) { self.pollers = pollers }
    func start() { pollers.start() }
    func requestStop() { pollers.stop() }
    func stop() {
        pollers.stop()
        pollers.waitUntilStopped(timeout: 20)
    }
}

/// Work that runs once on a thread of its own until told to stop (a followed collection of
/// audit events from pod logs); stopping waits up to `timeout` for it to end.
final class ThreadPart: AggregatorPart, @unchecked Sendable {
    private let name: String
    private let body: @Sendable () -> Void
    private let stopBody: @Sendable () -> Void
    private let timeout: Double
    private let condition = NSCondition()
    private var running = false

    init(name: String, timeout: Double, run body: @escaping @Sendable () -> Void, stop requestStop: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
        stopBody = requestStop
        self.timeout = timeout
    }

    func start() {
        condition.withLock { running = true }
        let t = Thread { [self] in
            body()
            condition.withLock {
                running = false
                condition.broadcast()
            }
        }
        t.name = name
        t.start()
    }

    func requestStop() { stopBody() }

    func stop() {
        stopBody()
        let deadline = Date().addingTimeInterval(timeout)
        condition.withLock {
            while running && condition.wait(until: deadline) {}
        }
    }
}
