import Foundation
import KubetrailStore

/// Pages of followers' reads, computed once and shared: followers of one table with one filter
/// that are caught up ask for the same page after each commit, and fifty of them formatting the
/// same rows fifty times took the CPU that ingest needed. The first to ask reads the page;
/// those asking meanwhile wait for it; a page that moved the cursor is kept a while for those
/// who ask later.
///
/// A page read when it reached the newest change is kept too: it is the changes from its start
/// to its cursor, whoever reads it, and a follower taking it goes on from its cursor. Followers
/// woken by one commit at different moments would otherwise each read a page of their own,
/// and never meet again at one position while commits keep landing.
final class SharedTailPages: @unchecked Sendable {
    struct Key: Hashable {
        var table: String
        var condition: String?
        var cursor: String
        var maxEntries: Int
    }

    /// A page as its followers send it: the columns line (sent once per follow), then its rows
    /// and cursor lines.
    struct Page: Sendable {
        var header: [UInt8]
        var body: [UInt8]
        var page: TailPage
        /// The commit count before the page was read: its rows include every commit up to it,
        /// so a follower that took it waits for a commit after this one, not after its own.
        var commitsBefore: UInt64 = 0
        /// When it was read (monotonic).
        var readAt = ContinuousClock.now

        /// Seconds since it was read.
        var age: TimeInterval {
            let d = ContinuousClock.now - readAt
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        /// The body in each encoding followers asked for, encoded by the first to ask.
        let encodings = EncodedBodies()

        /// The body as a follower that asked for `encoding` sends it.
        func body(_ encoding: TailEncoding) -> [UInt8] {
            encoding == .identity || body.isEmpty ? body : encodings.get(encoding) { encoding.encode(body) }
        }
    }

    /// A page's body encoded, kept with the page.
    final class EncodedBodies: @unchecked Sendable {
        private let lock = NSLock()
        private var bodies: [TailEncoding: [UInt8]] = [:]

        /// Encoded under the lock: followers asking meanwhile wait for it rather than encode it again.
        func get(_ encoding: TailEncoding, encode: () -> [UInt8]) -> [UInt8] {
            lock.withLock {
                if let b = bodies[encoding] { return b }
                let b = encode()
                bodies[encoding] = b
                return b
            }
        }
    }

    private let condition = NSCondition()
    private var kept: [Key: Page] = [:]
    private var order: [Key] = []
    private var keptBytes = 0
    private var computing: Set<Key> = []
    let maxKeptBytes: Int
    let maxKept: Int

    /// A kept page older than this is read again: it shows rows as they were when it was read
    /// (a row replaced since would show twice), and a position pruned since must be refused.
    let maxAge: TimeInterval

    init(maxKeptBytes: Int = 64 << 20, maxKept: Int = 32, maxAge: TimeInterval = 10) {
        self.maxKeptBytes = maxKeptBytes
        self.maxKept = maxKept
        self.maxAge = maxAge
    }

    /// The page at `key`, read by `read` unless another follower has it or is reading it.
    func page(_ key: Key, read: () throws -> Page) throws -> Page {
        condition.lock()
        while true {
            if let p = kept[key], p.age <= maxAge {
                condition.unlock()
                return p
            }
            // Not kept and no one reading it (the reader failed, or it was never read): read it.
            if !computing.contains(key) { break }
            condition.wait()
        }
        computing.insert(key)
        condition.unlock()
        let result = Result { try read() }
        condition.lock()
        computing.remove(key)
        // Kept when it moved the cursor: a page that did not would be read from the kept copy
        // again and again by followers whose next commit has landed. On failure nothing is
        // kept: each waiter then reads the page itself and meets its error.
        if case .success(let p) = result, p.page.cursor.description != key.cursor { keep(key, p) }
        condition.broadcast()
        condition.unlock()
        return try result.get()
    }

    /// Oldest out first, within the count and byte bounds; a page larger than the byte bound is
    /// not kept (those waiting for it then read it each in turn). The bound counts plain bytes:
    /// a page's zstd copy, kept with it once asked for, adds about a fifth.
    private func keep(_ key: Key, _ p: Page) {
        let size = p.header.count + p.body.count
        guard size <= maxKeptBytes else { return }
        if let old = kept.removeValue(forKey: key) {
            // A page kept before and too old to serve: its place is this one's.
            keptBytes -= old.header.count + old.body.count
            order.removeAll { $0 == key }
        }
        kept[key] = p
        order.append(key)
        keptBytes += size
        while order.count > maxKept || keptBytes > maxKeptBytes, let oldest = order.first {
            order.removeFirst()
            if let gone = kept.removeValue(forKey: oldest) { keptBytes -= gone.header.count + gone.body.count }
        }
    }

    /// Reads one page into the bytes its followers send.
    static func read(_ store: any Store, _ request: TailRequest, commitsBefore: UInt64) throws -> Page {
        let encoder = PageEncoder()
        let page = try store.tail(request, into: encoder)
        encoder.finish(cursor: page.cursor, moved: moved(request, page))
        return Page(header: encoder.header, body: encoder.body, page: page, commitsBefore: commitsBefore)
    }

    /// Whether a page says anything: rows, or a new cursor.
    static func moved(_ request: TailRequest, _ page: TailPage) -> Bool {
        if case .after(let before) = request.start, before == page.cursor, page.rows == 0 { return false }
        return true
    }
}

/// The `rows` format of one page, its columns line apart, built in memory (no output closure:
/// a page whose read fails part way is simply dropped with what it had).
private final class PageEncoder: QuerySink {
    private(set) var header: [UInt8] = []
    private(set) var body: [UInt8] = []

    func begin(columns: [QueryColumn]) throws {
        guard header.isEmpty else { return }
        let headerOut = TextOutput.memory()
        try RowsFormatSink(headerOut).begin(columns: columns)
        header = Array(headerOut.text.utf8)
    }

    func row(_ values: [QueryValue]) throws { RowsFormatSink.append(values, to: &body) }
    func end() throws {}

    func finish(cursor: TailCursor, moved: Bool) {
        if moved { body += Array("{\"cursor\":\"\(cursor)\"}\n".utf8) }
    }
}
