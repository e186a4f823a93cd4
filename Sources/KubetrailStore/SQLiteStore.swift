import Foundation
import GRDB
import KubetrailTables

/// The embedded store: one SQLite file in WAL mode, one writer, readers that never block it.
public final class SQLiteStore: Store {
    public var engine: SQLEngine { .sqlite }
    public enum Durability: Sendable {
        /// fsync at every commit: what the aggregator needs before it acknowledges a batch.
        case full
        /// fsync at checkpoints only: survives a crash of the process, not of the machine.
        case normal
    }

    public let path: String
    let pool: DatabasePool
    public var description: String { path }
    /// The audit chain heads this process committed: the writer extends no other.
    public let writtenHeads = ChainHeads()
    /// Dictionary ids of interned audit values this process has seen committed.
    let valueIDs = InternedValueIDs()
    /// Read-only connections of followers, reused: a follower reads a page after each commit,
    /// and opening a connection (schema, functions) for each cost more than the page.
    let tailConnections = ReadOnlyConnectionPool()

    /// Opens (creating if needed) a database for writing and brings its schema up to date.
    /// `cacheMiB` bounds SQLite's page cache for the writer: large for bulk imports, smaller in
    /// the long-running aggregator whose memory budget matters more.
    public init(path: String, durability: Durability = .normal, cacheMiB: Int = 128) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        // The audit trail is readable by its owner only: created 0600 here, and SQLite gives the
        // -wal and -shm files the database file's mode.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
        var config = SQLiteStore.configuration()
        config.prepareDatabase { db in
            // Audit rows are ~1.8 KB: 16 KiB pages hold eight instead of two, which measured 10 %
            // faster inserts and a 10 % smaller file. Only takes effect when the file is created.
            try db.execute(sql: "PRAGMA page_size = 16384")
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
            // Random row keys touch pages all over their indexes; SQLite's default 2,000-page
            // cache turned 1M-row imports into disk-bound page thrashing.
            try db.execute(sql: "PRAGMA cache_size = -\(cacheMiB * 1024)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Migrations.migrator.migrate(pool)
            try AuditStorageUpgrade.run(pool)
            try pool.write { db in try Migrations.reconcile(db) }
        } catch let error as DatabaseError {
            throw StoreError.open(path: path, message: error.message ?? "\(error)")
        }
    }

    /// Opens an existing database for queries only; writes are refused by SQLite itself.
    public init(readingFrom path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError.missing(path: path) }
        var config = SQLiteStore.configuration()
        config.readonly = true
        do {
            pool = try DatabasePool(path: path, configuration: config)
            if try pool.read({ db in try AuditStorageUpgrade.kind(db, AuditStorageUpgrade.legacy) }) != nil {
                throw StoreError.open(
                    path: path,
                    message:
                        "its audit rows are part way through the upgrade to this version's layout: wait for the process upgrading it, or, if none is, open it for writing once (the aggregator, or kubetrail import) to finish"
                )
            }
        } catch let error as DatabaseError {
            throw StoreError.open(path: path, message: error.message ?? "\(error)")
        }
    }

    static func configuration() -> Configuration {
        var config = Configuration()
        config.busyMode = .timeout(10)
        return config
    }

    /// Runs `body` in one write transaction: all its rows commit together or not at all.
    ///
    /// The chain heads the transaction reached are proposed before its COMMIT and settled from
    /// what `pool.write` returned — not from GRDB's commit callbacks: when a full disk fails the
    /// COMMIT and SQLite rolls back on its own, GRDB does not report that rollback, and a
    /// callback left waiting fired on the next transaction's commit with a head never stored.
    public func write<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
        try writeSQLite(body)
    }

    /// `write` with SQLite's own transaction type (migrations, tests).
    func writeSQLite<T>(_ body: (SQLiteTransaction) throws -> T) throws -> T {
        var updates: [String: ChainHeads.Head] = [:]
        var newValueIDs: [InternedValueIDs.Key: Int64] = [:]
        var generation: Int64?
        do {
            let result = try pool.write { db in
                let writer = SQLiteTransaction(db, heads: writtenHeads, valueIDs: valueIDs)
                let result = try body(writer)
                try writer.finishValues()
                try writer.finishJournal()
                updates = writer.chainUpdates
                newValueIDs = writer.newValueIDs
                generation = writer.valuesGeneration
                if !updates.isEmpty { writtenHeads.propose(updates) }
                return result
            }
            if !updates.isEmpty { writtenHeads.settle(updates, committed: true) }
            valueIDs.add(newValueIDs, generation: generation)
            return result
        } catch {
            if !updates.isEmpty { settleAfterFailure(updates) }
            if let error = error as? DatabaseError, [.SQLITE_FULL, .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_READONLY].contains(error.resultCode) {
                throw StoreError.write(path: path, message: error.message ?? "\(error)")
            }
            throw error
        }
    }

    /// A failed `pool.write` whose body had finished: the COMMIT failed, almost surely, but the
    /// store says for sure.
    private func settleAfterFailure(_ updates: [String: ChainHeads.Head]) {
        var stored: [String: ChainHeads.Head?] = [:]
        do {
            try pool.read { db in
                for cluster in updates.keys { stored[cluster] = try AuditChain.storedHead(db, cluster: cluster) }
            }
        } catch {
            writtenHeads.settle(updates, committed: nil)
            return
        }
        for (cluster, head) in updates {
            let now = stored[cluster] ?? nil
            writtenHeads.settle([cluster: head], committed: now == head)
        }
    }

    /// Runs `body` on a read snapshot, without holding the writer (only its reading methods may
    /// be used).
    public func read<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteTransaction(db)) }
    }

    /// Runs SQL (PostgreSQL-flavoured, see `SQLDialect`) on a read-only connection, streaming
    /// rows into `sink`.
    public func query<S: QuerySink>(_ sql: String, now: Timestamp, limits: QueryLimits, into sink: S) throws {
        try ReadOnlyConnection(path: path).run(sql, now: now, limits: limits, into: sink)
    }

    /// Row counts and time ranges of the four tables.
    public func tableStats() throws -> [TableStats] {
        try pool.read { db in
            try KubernetesTables.all.map { schema in
                let t = quoteIdentifier(schema.name), c = quoteIdentifier(schema.timeColumn)
                let count = try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM \(t)") ?? 0
                let first = try String.fetchOne(db, sql: "SELECT MIN(\(c)) FROM \(t)")
                let last = try String.fetchOne(db, sql: "SELECT MAX(\(c)) FROM \(t)")
                return TableStats(schema: schema, rows: count, first: first, last: last)
            }
        }
    }

    /// SQLite's query plan, for checking that a query uses an index.
    public func explain(_ sql: String, now: Timestamp) throws -> [String] {
        final class Details: QuerySink {
            var lines: [String] = []
            var column = 3
            func begin(columns: [QueryColumn]) { column = columns.firstIndex { $0.name == "detail" } ?? 3 }
            func row(_ values: [QueryValue]) { if case .text(let t) = values[column] { lines.append(t) } }
            func end() {}
        }
        let details = Details()
        try query("EXPLAIN QUERY PLAN " + sql, now: now, limits: QueryLimits(), into: details)
        return details.lines
    }
}

public struct TableStats: Sendable {
    public var schema: TableSchema
    public var rows: Int64
    public var first: String?
    public var last: String?
}

public enum StoreError: Error, CustomStringConvertible, Sendable {
    case missing(path: String)
    case open(path: String, message: String)
    case sql(String)
    /// A query went past its row or time limit.
    case limit(String)
    /// The transaction was rolled back; nothing of it is stored.
    case write(path: String, message: String)
    /// A database server is away, out of space or taking no writes: nothing of the transaction
    /// is stored, and the same write may succeed later.
    case unavailable(store: String, message: String)

    public var description: String {
        switch self {
        case .missing(let path): return "no database at \(path) (load data first with `kubetrail import`)"
        case .open(let path, let message): return "cannot open \(path): \(message)"
        case .sql(let message): return message
        case .limit(let message): return message
        case .write(let path, let message): return "cannot write \(path): \(message) (is the disk full or the file size limited?)"
        case .unavailable(let store, let message): return "cannot write \(store): \(message)"
        }
    }
}
