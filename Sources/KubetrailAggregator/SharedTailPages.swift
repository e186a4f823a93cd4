import Foundation
import KubetrailStore

/// Pages of followers' reads, computed once and shared: followers of one table with one filter
/// that are caught up ask for the same page after each commit, and fifty of them formatting the
/// same rows fifty times took the CPU that ingest needed. The first to ask reads the page;
/// those asking meanwhile wait for it; a whole page (not the newest, which still grows) is kept
/// a while for followers behind.
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
    }

    private let condition = NSCondition()
    private var kept: [Key: Page] = [:]
    private var order: [Key] = []
    private var keptBytes = 0
    private var computing: Set<Key> = []
    let maxKeptBytes: Int
    let maxKept: Int

    init(maxKeptBytes: Int = 64 << 20, maxKept: Int = 32) {
        self.maxKeptBytes = maxKeptBytes
        self.maxKept = maxKept
    }

    /// The page at `key`, read by `read` unless another follower has it or is reading it.
    func page(_ key: Key, read: () throws -> Page) throws -> Page {
        condition.lock()
        while true {
            if let p = kept[key] {
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
        // Kept only when it is whole: a page that reached the newest change grows as commits
        // land, and is only shared with those who asked while it was read. On failure nothing
        // is kept: each waiter then reads the page itself and meets its error.
        if case .success(let p) = result, !p.page.caughtUp { keep(key, p) }
        condition.broadcast()
        condition.unlock()
        return try result.get()
    }

    /// Oldest out first, within the count and byte bounds; a page larger than the byte bound is
    /// handed to its waiters only.
    private func keep(_ key: Key, _ p: Page) {
        let size = p.header.count + p.body.count
        guard size <= maxKeptBytes else { return }
        kept[key] = p
        order.append(key)
        keptBytes += size
        while order.count > maxKept || keptBytes > maxKeptBytes, let oldest = order.first {
            order.removeFirst()
            if let gone = kept.removeValue(forKey: oldest) { keptBytes -= gone.header.count + gone.body.count }
        }
    }

    /// Reads one page into the bytes its followers send.
    static func read(_ store: any Store, _ request: TailRequest) throws -> Page {
        let encoder = PageEncoder()
        let page = try store.tail(request, into: encoder)
        encoder.finish(cursor: page.cursor, moved: moved(request, page))
        return Page(header: encoder.header, body: encoder.body, page: page)
    }

    /// Whether a page says anything: rows, or a new cursor.
    static func moved(_ request: TailRequest, _ page: TailPage) -> Bool {
        if case .after(let before) = request.start, before == page.cursor, page.rows == 0 { return false }
        return true
    }
}

/// The `rows` format of one page, its columns line apart.
private final class PageEncoder: QuerySink {
    private(set) var header: [UInt8] = []
    private(set) var body: [UInt8] = []
    private var rows: RowsFormatSink?
    private var out: TextOutput?

    init() {
        let out = TextOutput { [unowned self] chunk in self.body += chunk }
        self.out = out
        rows = RowsFormatSink(out)
    }

    func begin(columns: [QueryColumn]) throws {
        guard header.isEmpty else { return }
        let headerOut = TextOutput.memory()
        try RowsFormatSink(headerOut).begin(columns: columns)
        header = Array(headerOut.text.utf8)
    }

    func row(_ values: [QueryValue]) throws { try rows?.row(values) }
    func end() throws {}

    func finish(cursor: TailCursor, moved: Bool) {
        if moved { out?.write("{\"cursor\":\"\(cursor)\"}\n") }
        out?.flush()
    }
}
