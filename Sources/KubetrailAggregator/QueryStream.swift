import Foundation
import KubetrailStore
import KubetrailTables
import Synchronization

/// Runs one query on its own thread and hands its output over in chunks through a small
/// bounded queue: SQLite never runs far ahead of a slow client, and a client that goes away
/// stops the query.
final class QueryStream: @unchecked Sendable {
    enum Event: Sendable {
        case chunk([UInt8])
        case failed(String)
        case finished
    }

    private let condition = NSCondition()
    private var queue: [Event] = []
    private var cancelled = false
    /// `cancelled`, readable without the lock.
    private let cancelledFlag = Atomic<Bool>(false)
    /// Set when the reader took nothing for `stallTimeout` (rather than going away).
    private let stalledFlag = Atomic<Bool>(false)
    var stalled: Bool { stalledFlag.load(ordering: .acquiring) }
    private let capacity = 8
    /// With a `resumer`: the free places in the queue, which the producer waits for without
    /// the lock (released by the reader as it takes events).
    private let room: DispatchSemaphore?
    let maxBytes: Int
    /// What the "result is larger than" error suggests.
    let tooLargeAdvice: String
    /// How long the producer waits for a reader that stopped reading before giving up.
    let stallTimeout: TimeInterval

    /// What the stream carries, for its stall message ("the query", "the follow").
    let what: String

    /// Where a producer of low priority (a follower, in the idle scheduling class) hands its
    /// events over (`ResumeThread`); nil: on the producer's own thread. Such a producer never
    /// takes the stream's lock: one preempted while holding it would hold up the reader's task,
    /// on a thread of the pool that ingest runs on, until the cores had time to spare.
    let resumer: ResumeThread?

    init(
        maxBytes: Int, tooLargeAdvice: String = "add a LIMIT or select fewer columns", stallTimeout: TimeInterval = 60, what: String = "the query",
        resumer: ResumeThread? = nil
    ) {
        self.resumer = resumer
        if resumer != nil {
            // Counted up from 0: libdispatch traps when a semaphore is freed below its initial value.
            let room = DispatchSemaphore(value: 0)
            for _ in 0..<capacity { room.signal() }
            self.room = room
        } else {
            room = nil
        }
        self.what = what
        self.maxBytes = maxBytes
        self.tooLargeAdvice = tooLargeAdvice
        self.stallTimeout = stallTimeout
    }

    /// `slot` is released when the query's thread is done, however the query ends.
    static func start(
        store: any Store, sql: String, format: String, limits: QueryLimits, maxBytes: Int,
        tooLargeAdvice: String = "add a LIMIT or select fewer columns", slot: QuerySlots.Slot? = nil,
        stallTimeout: TimeInterval = 60, keepAlive: TimeInterval = 5
    ) -> QueryStream {
        let stream = QueryStream(maxBytes: maxBytes, tooLargeAdvice: tooLargeAdvice, stallTimeout: stallTimeout)
        let thread = Thread {
            defer { slot?.release() }
            let out = TextOutput { stream.put(.chunk($0)) }
            var limits = limits
            limits.cancelled = { stream.isCancelled }
            if format == "rows" {
                // A selective query over a big table may take minutes per 64 KiB: every few
                // seconds send what is buffered, or a blank line (the rows format skips those),
                // so the reader sees the query is alive.
                let beat = Heartbeat(every: keepAlive)
                let output = UncheckedOutput(out)
                limits.heartbeat = {
                    guard beat.due() else { return }
                    if output.out.pending > 0 { output.out.flush() } else { stream.put(.chunk([0x0A])) }
                }
            }
            let sink: any QuerySink
            switch format {
            case "rows": sink = RowsFormatSink(out)
            case "csv": sink = OutputFormat.csv.sink(writingTo: out)
            case "jsonl": sink = OutputFormat.jsonl.sink(writingTo: out)
            default: sink = OutputFormat.json.sink(writingTo: out)
            }
            do {
                try store.query(sql, now: .now, limits: limits, into: StoppableSink(inner: sink, stream: stream, out: out))
                if format == "rows" { out.write("{\"end\":true}\n") }
                out.flush()
                stream.put(.finished)
            } catch {
                out.flush()
                stream.put(.failed("\(error)"))
            }
        }
        thread.name = "kubetrail-query"
        thread.start()
        return stream
    }

    var isCancelled: Bool { cancelledFlag.load(ordering: .acquiring) }

    /// Under the lock.
    private func markCancelled(stalled: Bool) {
        cancelled = true
        cancelledFlag.store(true, ordering: .releasing)
        if stalled { stalledFlag.store(true, ordering: .releasing) }
    }

    /// Blocks the producer while the queue is full; a reader that takes nothing for a minute is
    /// treated as gone, so the query and its connection are released.
    func put(_ event: Event) {
        if let resumer, let room {
            guard !isCancelled else { return }
            guard room.wait(timeout: .now() + stallTimeout) == .success else {
                stalledFlag.store(true, ordering: .releasing)
                cancelledFlag.store(true, ordering: .releasing)
                resumer.resume { self.enqueue(nil, stalled: true) }
                return
            }
            resumer.resume { self.enqueue(event, stalled: false) }
            return
        }
        condition.lock()
        let deadline = Date().addingTimeInterval(stallTimeout)
        while queue.count >= capacity && !cancelled {
            if !condition.wait(until: deadline) { markCancelled(stalled: true) }
        }
        if !cancelled { queue.append(event) }
        let handOff = takeForWaiter()
        condition.broadcast()
        condition.unlock()
        handOff?()
    }

    /// A low-priority producer's event (or its stall), on the resumer's thread.
    private func enqueue(_ event: Event?, stalled: Bool) {
        condition.lock()
        if stalled { markCancelled(stalled: true) }
        if let event, !cancelled { queue.append(event) }
        let handOff = takeForWaiter()
        condition.unlock()
        handOff?()
    }

    /// The reader suspended in `next`, when there is something for it now.
    private var waiter: CheckedContinuation<Event, Never>?

    /// Under the lock: the waiting reader's event, handed over by the caller once unlocked.
    private func takeForWaiter() -> (@Sendable () -> Void)? {
        guard let w = waiter, !queue.isEmpty || cancelled else { return nil }
        waiter = nil
        let event = nextEvent()
        return { w.resume(returning: event) }
    }

    /// Under the lock: the first queued event, or the failure of a stream stopped and drained.
    private func nextEvent() -> Event {
        guard !queue.isEmpty else { return Event.failed("\(what) was stopped: its reader took nothing for \(Int(stallTimeout)) s") }
        room?.signal()
        return queue.removeFirst()
    }

    /// The next event. A reader with nothing to read is suspended, not parked on a thread: fifty
    /// idle followers blocking threads of the global queues held up the ingest work queued
    /// there. Once the stream is cancelled (the reader stalled past the timeout, say) and
    /// drained, it fails: nothing more will come.
    func next() async -> Event {
        await withCheckedContinuation { continuation in
            condition.lock()
            if queue.isEmpty && !cancelled {
                waiter = continuation
                condition.unlock()
                return
            }
            let event = nextEvent()
            condition.broadcast()  // a producer waiting for room
            condition.unlock()
            continuation.resume(returning: event)
        }
    }

    func cancel() {
        condition.lock()
        markCancelled(stalled: false)
        queue.removeAll()
        queue.append(.finished)  // what a waiting or later reader gets
        let handOff = takeForWaiter()
        condition.broadcast()
        condition.unlock()
        room?.signal()  // a producer waiting for room sees the stream is cancelled
        handOff?()
    }
}

/// Allows a heartbeat every few seconds (checked from the store's polling, on one thread).
/// Unchecked: only touched on its query's or follower's own thread.
final class Heartbeat: @unchecked Sendable {
    /// Blank lines, which the rows format skips: enough bytes to keep a client above curl's
    /// 1 byte/s low-speed limit when sent every 2 s.
    static let bytes: [UInt8] = [0x0A, 0x0A, 0x0A, 0x0A]
    let interval: UInt64
    init(every seconds: TimeInterval) { interval = UInt64(seconds * 1e9) }
    private var last = DispatchTime.now().uptimeNanoseconds
    func due() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - last >= interval else { return false }
        last = now
        return true
    }
    func reset() { last = DispatchTime.now().uptimeNanoseconds }
}

/// The query's output, for its heartbeat: only used on the query's thread.
private final class UncheckedOutput: @unchecked Sendable {
    let out: TextOutput
    init(_ out: TextOutput) { self.out = out }
}

/// Cancels its stream when released: the response body owns one, so a response that is never
/// written (the client went away before the head) still stops the query.
final class QueryStreamGuard: @unchecked Sendable {
    let stream: QueryStream
    init(_ stream: QueryStream) { self.stream = stream }
    deinit { stream.cancel() }
}

/// Stops the SQLite loop as soon as the client is gone.
private struct StoppableSink: QuerySink {
    let inner: any QuerySink
    let stream: QueryStream
    let out: TextOutput

    func begin(columns: [QueryColumn]) throws { try check(); try inner.begin(columns: columns) }
    func row(_ values: [QueryValue]) throws { try check(); try inner.row(values) }
    func end() throws { try inner.end() }
    private func check() throws {
        if stream.isCancelled { throw CancellationError() }
        if out.totalBytes > stream.maxBytes { throw StoreError.limit("the result is larger than \(stream.maxBytes) bytes; \(stream.tooLargeAdvice)") }
    }
}
