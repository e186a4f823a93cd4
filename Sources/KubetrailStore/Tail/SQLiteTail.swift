import Foundation
import KubetrailCore
import KubetrailTables

extension SQLiteStore {
    /// A page of a follow over a read-only connection, in one read snapshot: the journal's
    /// position and the rows read with it agree, so the next page starts exactly after them.
    public func tail(_ request: TailRequest, into sink: any QuerySink) throws -> TailPage {
        guard let table = ChangeJournal.number(request.table) else { throw TailError.notFollowable(request.table.name) }
        let c = try tailConnections.take(path)
        try c.beginSnapshot()
        defer {
            // Returned only when its read ended cleanly: a connection in an unknown state is closed.
            if (try? c.endSnapshot()) != nil { tailConnections.give(c) }
        }
        let head = try SQLiteTailState.read(c)
        guard let store = head.store else { throw TailError.noJournal(description) }
        let counted = CountingSink(sink)
        let condition = request.condition.map { " AND (\($0))" } ?? ""
        switch request.start {
        case .since(let since):
            if let check = request.conditionCheck { try c.run(check, limits: request.limits, into: counted) }
            if let since {
                let time = quoteIdentifier(request.table.timeColumn)
                let sql =
                    "SELECT * FROM \(quoteIdentifier(request.table.name)) WHERE \(time) >= '\(since.iso8601)'\(condition) ORDER BY \(time)"
                try c.run(sql, limits: request.limits, into: counted)
            }
            // Entries after the snapshot's newest are changes the history did not see.
            return TailPage(cursor: TailCursor(store: store, table: table, position: UInt64(head.sequence)), rows: counted.rows, caughtUp: false)
        case .after(let cursor):
            guard cursor.store == store, cursor.table == table, cursor.snapshot == nil else { throw TailError.foreignCursor }
            // A cursor past the journal's end is from a copy of this store restored from before it.
            guard cursor.position <= UInt64(head.sequence) else { throw TailError.foreignCursor }
            let after = Int64(cursor.position)
            if let pruned = try SQLiteTailState.pruned(c, table: table), pruned > after { throw TailError.expired }
            if let check = request.conditionCheck { try c.run(check, limits: request.limits, into: counted) }
            let scan = try SQLiteTailState.integers(
                c,
                "SELECT max(kt_seq), count(*) FROM (SELECT kt_seq FROM kubetrail_changes WHERE kt_table = \(table) AND kt_seq > \(after) ORDER BY kt_seq LIMIT \(max(1, request.maxEntries)))"
            )
            guard let last = scan[0], let entries = scan[1], entries > 0 else { return TailPage(cursor: cursor, rows: 0, caughtUp: true) }
            // The table's rows under its own name, so a condition may name it.
            let t = quoteIdentifier(request.table.name)
            let columns = request.table.columns.map { t + "." + quoteIdentifier($0.name) }.joined(separator: ", ")
            let sql = """
                SELECT \(columns) FROM kubetrail_changes c JOIN \(Self.tailSource(request.table)) AS \(t) ON \(t).kubetrail_rowid = c.kt_rowid
                WHERE c.kt_table = \(table) AND c.kt_seq > \(after) AND c.kt_seq <= \(last)\(condition) ORDER BY c.kt_seq
                """
            try c.run(sql, limits: request.limits, into: counted)
            var next = cursor
            next.position = UInt64(last)
            return TailPage(cursor: next, rows: counted.rows, caughtUp: entries < max(1, request.maxEntries))
        }
    }

    /// The table's contract columns with each row's rowid (what journal entries point at): the
    /// audit table's through the same expressions as its view.
    static func tailSource(_ schema: TableSchema) -> String {
        guard schema.name == AuditStorage.view else { return "(SELECT rowid AS kubetrail_rowid, * FROM \(quoteIdentifier(schema.name)))" }
        let cols = AuditLayout.columns.map { "\(AuditLayout.expression($0.name, from: AuditStorage.table)) AS \(quoteIdentifier($0.name))" }
        return "(SELECT \(AuditStorage.table).rowid AS kubetrail_rowid, " + cols.joined(separator: ", ") + " FROM \(AuditStorage.table))"
    }
}

/// The journal's bookkeeping as a read-only connection sees it.
enum SQLiteTailState {
    struct Head {
        var store: String?
        /// The newest sequence number handed out (also when its entry was pruned since).
        var sequence: Int64
    }

    static func read(_ c: ReadOnlyConnection) throws -> Head {
        let rows = Rows()
        // No journal table yet (a file from before it, opened read-only): no store id either.
        try c.run(
            "SELECT (SELECT value FROM kubetrail_cursors WHERE name = '\(ChangeJournal.storeIDName)'), (SELECT value FROM kubetrail_cursors WHERE name = '\(SQLiteChangeJournal.sequenceName)')",
            into: rows)
        guard let r = rows.values.first else { return Head(store: nil, sequence: 0) }
        var store: String?
        if case .text(let s) = r[0] { store = s }
        var sequence: Int64 = 0
        if case .text(let n) = r[1] { sequence = Int64(n) ?? 0 }
        return Head(store: store, sequence: sequence)
    }

    static func pruned(_ c: ReadOnlyConnection, table: Int) throws -> Int64? {
        let rows = Rows()
        try c.run("SELECT value FROM kubetrail_cursors WHERE name = '\(ChangeJournal.prunedName(table))'", into: rows)
        guard case .text(let t) = rows.values.first?.first else { return nil }
        return Int64(t)
    }

    static func integers(_ c: ReadOnlyConnection, _ sql: String) throws -> [Int64?] {
        let rows = Rows()
        try c.run(sql, into: rows)
        return rows.values.first?.map { if case .int(let n) = $0 { n } else { nil } } ?? []
    }

    private final class Rows: QuerySink {
        var values: [[QueryValue]] = []
        func begin(columns: [QueryColumn]) {}
        func row(_ row: [QueryValue]) { values.append(row) }
        func end() {}
    }
}

/// Counts rows on their way to another sink.
public final class CountingSink: QuerySink {
    let inner: any QuerySink
    public private(set) var rows = 0
    public init(_ inner: any QuerySink) { self.inner = inner }
    public func begin(columns: [QueryColumn]) throws { try inner.begin(columns: columns) }
    public func row(_ values: [QueryValue]) throws {
        rows += 1
        try inner.row(values)
    }
    public func end() throws { try inner.end() }
}

/// Idle read-only connections to one file, at most `maxIdle` kept.
final class ReadOnlyConnectionPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [ReadOnlyConnection] = []
    let maxIdle: Int

    init(maxIdle: Int = 16) { self.maxIdle = maxIdle }

    func take(_ path: String) throws -> ReadOnlyConnection {
        if let c = lock.withLock({ idle.popLast() }) { return c }
        return try ReadOnlyConnection(path: path)
    }

    func give(_ c: ReadOnlyConnection) {
        lock.withLock { if idle.count < maxIdle { idle.append(c) } }
    }
}
