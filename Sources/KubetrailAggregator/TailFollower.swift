import Foundation
import KubetrailStore
import Metrics

/// One follower of `/v1/tail`: a thread that reads pages of a table's changes and hands them
/// to the response through a `QueryStream`'s small bounded queue.
///
/// It pulls at its client's pace: a slow client holds only its own queue, never the commit
/// path (followers read, on their own connections). One that takes nothing for
/// `stallTimeout` is cut: its thread and connection are released, and the error line waits
/// at the end of what it was sent, for a client that comes back to resume by cursor.
enum TailFollower {
    struct Timing {
        var poll: TimeInterval
        /// Clients count a connection as dead below 1 byte/s (curl's low-speed limit): a few
        /// bytes every 2 s keep an idle follow above it.
        var keepAlive: TimeInterval = 2
        var stall: TimeInterval
        /// PostgreSQL changes held behind a running transaction are looked for this often.
        var heldPoll: TimeInterval = 0.05
    }

    static func start(
        store: any Store, first: TailRequest, commits: CommitSignal, timing: Timing, slot: QuerySlots.Slot
    ) -> QueryStream {
        let stream = QueryStream(maxBytes: .max, stallTimeout: timing.stall, what: "the follow")
        let thread = Thread {
            defer { slot.release() }
            let out = TextOutput { stream.put(.chunk($0)) }
            let sink = FollowSink(out)
            var request = first
            request.limits.cancelled = { stream.isCancelled }
            // A long page (a big history, a selective filter over many entries) says it is alive
            // too, from the store's own polling on this thread.
            let beat = KeepAlive(out, every: timing.keepAlive)
            request.limits.heartbeat = {
                guard beat.due() else { return }
                if beat.out.pending > 0 { beat.out.flush() } else { stream.put(.chunk(KeepAlive.bytes)) }
            }
            var lastWrite = Date()
            do {
                while !stream.isCancelled {
                    let seen = commits.current
                    let page = try store.tail(request, into: sink)
                    if case .after(let before) = request.start, before == page.cursor, page.rows == 0 {
                        // Nothing moved: nothing to say.
                    } else {
                        out.write("{\"cursor\":\"\(page.cursor)\"}\n")
                    }
                    request.start = .after(page.cursor)
                    request.checkCondition = false
                    guard page.caughtUp else { continue }
                    if out.pending > 0 {
                        out.flush()
                        lastWrite = Date()
                    } else if Date().timeIntervalSince(lastWrite) >= timing.keepAlive {
                        stream.put(.chunk(KeepAlive.bytes))
                        lastWrite = Date()
                    }
                    if page.heldBack {
                        Thread.sleep(forTimeInterval: timing.heldPoll)
                    } else {
                        commits.wait(after: seen, timeout: timing.poll)
                    }
                }
            } catch {
                out.flush()
                stream.put(.failed("\(error)"))
            }
            if stream.stalled { Counter(label: "kubetrail_tail_followers_cut_total").increment() }
        }
        thread.name = "kubetrail-follow"
        thread.start()
        return stream
    }
}

/// The typed `rows` stream, its header once: every page of a follow begins its columns again.
private final class FollowSink: QuerySink {
    let rows: RowsFormatSink
    var begun = false
    init(_ out: TextOutput) { rows = RowsFormatSink(out) }
    func begin(columns: [QueryColumn]) throws {
        guard !begun else { return }
        begun = true
        try rows.begin(columns: columns)
    }
    func row(_ values: [QueryValue]) throws { try rows.row(values) }
    func end() throws {}
}

/// When a long page last said it is alive, and the output it says it on. Unchecked: only
/// touched on its follower's thread.
private final class KeepAlive: @unchecked Sendable {
    /// Blank lines, which the rows format skips.
    static let bytes: [UInt8] = [0x0A, 0x0A, 0x0A, 0x0A]
    let out: TextOutput
    let interval: UInt64
    private var last = DispatchTime.now().uptimeNanoseconds
    init(_ out: TextOutput, every seconds: TimeInterval) {
        self.out = out
        interval = UInt64(seconds * 1e9)
    }
    func due() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - last >= interval else { return false }
        last = now
        return true
    }
}
