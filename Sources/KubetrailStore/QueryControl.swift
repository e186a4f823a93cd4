import Dispatch
import Foundation
import GRDBSQLite
import Synchronization

/// One running query's stop conditions, shared by SQLite's progress handler, the watchdog and
/// the dialect's functions.
///
/// SQLite polls its progress handler (and its interrupt flag) only when a statement loops, so a
/// row whose expressions call slow functions one after another — hundreds of `replace` over
/// 4 MiB strings, say — never gets there. The functions that can be slow ask `stopped` before
/// (and, for pattern matching, while) they work, so a query stops within one call of its limit.
final class QueryControl: @unchecked Sendable {
    private let flag = Atomic<Bool>(false)
    /// Monotonic nanoseconds; 0 for none. Atomic so the check costs a load and a clock read,
    /// with no timer thread involved (on a busy machine a timer can fire late).
    private let deadlineNanos = Atomic<UInt64>(0)

    var stopped: Bool {
        if flag.load(ordering: .relaxed) { return true }
        let deadline = deadlineNanos.load(ordering: .relaxed)
        guard deadline != 0, DispatchTime.now().uptimeNanoseconds >= deadline else { return false }
        flag.store(true, ordering: .relaxed)
        return true
    }

    func stop() { flag.store(true, ordering: .relaxed) }

    // Set before a query runs and cleared after, on the query's own thread.
    private(set) var cancelled: (@Sendable () -> Bool)?
    private(set) var heartbeat: (@Sendable () -> Void)?

    func begin(seconds: Double?, cancelled: (@Sendable () -> Bool)?, heartbeat: (@Sendable () -> Void)?) {
        flag.store(false, ordering: .relaxed)
        let nanos = seconds.map { DispatchTime.now().uptimeNanoseconds + UInt64(max(0, $0) * 1e9) } ?? 0
        deadlineNanos.store(nanos, ordering: .relaxed)
        self.cancelled = cancelled
        self.heartbeat = heartbeat
    }

    func end() { begin(seconds: nil, cancelled: nil, heartbeat: nil) }

    /// Why this query was stopped, or nil when nothing stopped it.
    var stopReason: String? {
        if cancelled?() == true { return "the query was stopped: its client went away" }
        if stopped { return Self.timeLimitMessage }
        return nil
    }

    static let timeLimitMessage = "the query ran longer than its time limit and was stopped"
}

/// Interrupts connections whose query's time limit passed, from one thread of its own (not a
/// GCD queue: with every core busy running queries, GCD may not start a thread for a timer).
/// `sqlite3_interrupt` is what stops SQLite inside one long step, such as a sort.
final class QueryWatchdog: @unchecked Sendable {
    static let shared = QueryWatchdog()

    final class Arm: @unchecked Sendable {
        fileprivate var handle: OpaquePointer?
        fileprivate let control: QueryControl
        fileprivate let deadline: Date
        fileprivate init(_ handle: OpaquePointer, _ control: QueryControl, _ deadline: Date) {
            self.handle = handle
            self.control = control
            self.deadline = deadline
        }
    }

    private let condition = NSCondition()
    private var armed: [ObjectIdentifier: Arm] = [:]

    private init() {
        let thread = Thread { [self] in run() }
        thread.name = "kubetrail-query-watchdog"
        thread.start()
    }

    func arm(_ handle: OpaquePointer, control: QueryControl, seconds: Double) -> Arm {
        let arm = Arm(handle, control, Date().addingTimeInterval(max(0, seconds)))
        condition.lock()
        armed[ObjectIdentifier(arm)] = arm
        condition.signal()
        condition.unlock()
        return arm
    }

    /// After this returns the watchdog no longer touches the connection.
    func disarm(_ arm: Arm) {
        condition.lock()
        armed[ObjectIdentifier(arm)] = nil
        arm.handle = nil
        condition.unlock()
    }

    private func run() {
        condition.lock()
        while true {
            let now = Date()
            for (key, arm) in armed where arm.deadline <= now {
                if let handle = arm.handle {
                    arm.control.stop()
                    sqlite3_interrupt(handle)
                }
                armed[key] = nil
            }
            let next = armed.values.map(\.deadline).min() ?? now.addingTimeInterval(3600)
            _ = condition.wait(until: next)
        }
    }
}
