import Foundation
import KubetrailCore
import KubetrailStore
import Metrics

/// One follower of `/v1/tail`: a thread that reads pages of a table's changes and hands them
/// to the response through a `QueryStream`'s small bounded queue.
///
/// It pulls at its client's pace: a slow client holds only its own queue, never the commit
/// path (followers read, on their own connections). One that takes nothing for
/// `stallTimeout` is cut: its thread and connection are released, and the error line waits
/// at the end of what it was sent, for a client that comes back to resume by cursor.
/// Followers run in the idle scheduling class, on what ingest and queries leave of the CPU
/// (a follower behind catches up when ingest eases; it is cut only when its client stops
/// reading). Followers at one position share each page (`SharedTailPages`), compressed once
/// for all who asked for zstd: many of them cost about what one does.
enum TailFollower {
    struct Timing {
        var poll: TimeInterval
        /// Clients count a connection as dead below 1 byte/s (curl's low-speed limit): a few
        /// bytes every 2 s keep an idle follow above it.
        var keepAlive: TimeInterval = 2
        var stall: TimeInterval
        /// PostgreSQL changes held behind a running transaction are looked for this often.
        var heldPoll: TimeInterval = 0.05
        /// A caught-up follower woken by a commit waits this long before it reads, so that the
        /// commits landing meanwhile come in one page: under heavy ingest (tens of commits a
        /// second) a page per commit per follower cost more than the rows, and compressed worse.
        var gather: TimeInterval = 0.25
    }

    static func start(
        store: any Store, first: TailRequest, commits: CommitSignal, pages: SharedTailPages, timing: Timing, encoding: TailEncoding,
        slot: QuerySlots.Slot
    ) -> QueryStream {
        let stream = QueryStream(maxBytes: .max, stallTimeout: timing.stall, what: "the follow", resumer: ResumeThread.shared)
        let thread = Thread {
            defer { slot.release() }
            CurrentThread.name("kubetrail-follow")
            CurrentThread.runWhenIdle()
            var request = first
            request.limits.cancelled = { stream.isCancelled }
            // A long page (a big history, a selective filter over many entries) says it is alive
            // too, from the store's own polling on this thread.
            let beat = Heartbeat(every: timing.keepAlive)
            request.limits.heartbeat = {
                if beat.due() { stream.put(.chunk(encoding.heartbeat)) }
            }
            var headerSent = false
            var lastWrite = Date()
            do {
                while !stream.isCancelled {
                    let seen = commits.current
                    guard case .after(let cursor) = request.start else {
                        // The history from `since` may be any size: streamed as it is read, never held.
                        let out = TextOutput { stream.put(.chunk(encoding.encode($0))) }
                        let sink = FollowSink(RowsFormatSink(out))
                        let page = try store.tail(request, into: sink)
                        out.write("{\"cursor\":\"\(page.cursor)\"}\n")
                        out.flush()
                        headerSent = sink.begun
                        lastWrite = Date()
                        beat.reset()
                        request.start = .after(page.cursor)
                        request.checkCondition = false
                        continue
                    }
                    let key = SharedTailPages.Key(
                        table: request.table.name, condition: request.condition, cursor: cursor.description, maxEntries: request.maxEntries)
                    let shared = try pages.page(key) { try SharedTailPages.read(store, request, commitsBefore: seen) }
                    if !headerSent, !shared.header.isEmpty {
                        stream.put(.chunk(encoding.encode(shared.header)))
                        headerSent = true
                    }
                    if !shared.body.isEmpty {
                        stream.put(.chunk(shared.body(encoding)))
                        lastWrite = Date()
                        beat.reset()
                    }
                    let page = shared.page
                    request.start = .after(page.cursor)
                    request.checkCondition = false
                    guard page.caughtUp else { continue }
                    if Date().timeIntervalSince(lastWrite) >= timing.keepAlive {
                        stream.put(.chunk(encoding.heartbeat))
                        lastWrite = Date()
                    }
                    if page.heldBack {
                        Thread.sleep(forTimeInterval: timing.heldPoll)
                    } else if shared.age > timing.gather {
                        // Another follower's page, read a while ago: this follower is behind and
                        // reads on at once, through the pages kept since, until it reads the
                        // newest itself (at worst one read that finds nothing new).
                        continue
                    } else {
                        commits.wait(after: shared.commitsBefore, timeout: timing.poll)
                        if commits.current != shared.commitsBefore { Thread.sleep(forTimeInterval: timing.gather) }
                    }
                }
            } catch {
                stream.put(.failed("\(error)"))
            }
            if stream.stalled { Counter(label: "kubetrail_tail_followers_cut_total").increment() }
        }
        thread.name = "kubetrail-follow"
        thread.start()
        return stream
    }
}
