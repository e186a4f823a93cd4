import GRDBSQLite
import KubetrailTables

extension SQLiteStore {
    /// Reads the physical rows, interned columns as their ids (`AuditLayout`): the view would
    /// run a subquery per row for each, where the scan looks each distinct value up once.
    /// With `streams` above 1 and a table big enough, the rows are split by rowid range over
    /// that many connections, which share one snapshot (`SQLiteSharedSnapshot`), each stream's
    /// rows read and evaluated on a thread of its own.
    public func scanAudit(
        _ columns: [AuditScanColumn], scope: AuditScanScope, selection: AuditScanSelection?, limits: QueryLimits,
        streams: Int, _ body: (_ stream: Int, AuditScanRow) throws -> Void
    ) throws -> [QueryColumn] {
        let plan = SQLiteAuditScanPlan(columns, layout: try pool.read { try AuditStorage.rows($0) })
        // NOCASE folds ASCII letters only, as the evaluator does.
        let filters =
            scope.conditions(chainRow: "rowid", pointer: "row_rowid")
            + (selection.map { [$0.sql(folded: { "\($0) COLLATE NOCASE" }, literal: PostgresSchema.literal)] } ?? [])
        let first = try ReadOnlyConnection(path: path)
        try withoutActuallyEscaping(body) { body in
            guard streams > 1, let ranges = try rowidRanges(plan.table, streams: streams, first) else {
                return try plan.read(0, over: first, filters: filters, limits: limits, body)
            }
            var connections = [first]
            for _ in 1..<ranges.count { connections.append(try ReadOnlyConnection(path: path)) }
            guard try SQLiteSharedSnapshot.begin(connections, path: path) else {
                return try plan.read(0, over: first, filters: filters, limits: limits, body)
            }
            // The ranges again, now in the shared snapshot; the last is open-ended anyway.
            let parts = try rowidRanges(plan.table, streams: ranges.count, first) ?? [[]]
            let scan = ScanStreams(), count = SharedRowCount()
            try scan.run(parts.count) { k in
                var own = limits
                own.maxRows = nil
                own.heartbeat = k == 0 ? limits.heartbeat : nil
                own.cancelled = { [cancelled = limits.cancelled] in scan.failed || cancelled?() == true }
                try plan.read(k, over: connections[k], filters: filters + parts[k], limits: own) { stream, row in
                    if let max = limits.maxRows, count.add() > max { throw ReadOnlyConnection.tooManyRows(max) }
                    try body(stream, row)
                }
            }
            for c in connections { try c.endSnapshot() }
        }
        return columns.map(\.queryColumn)
    }

    /// The table's rowids split into `streams` ranges (rowid conditions), the last open-ended;
    /// nil when the table is too small to be worth more than one stream.
    private func rowidRanges(_ table: String, streams: Int, _ c: ReadOnlyConnection) throws -> [[String]]? {
        let ends = IntegerRow()
        try c.run("SELECT min(rowid), max(rowid) FROM \(table)", into: ends)
        guard ends.values.count == 2, let low = ends.values[0], let high = ends.values[1], high - low >= Self.minimumRowsToSplit else { return nil }
        let span = high - low + 1, n = Int64(streams)
        return (0..<n).map { k in
            let from = low + span * k / n, to = low + span * (k + 1) / n
            return k == n - 1 ? ["rowid >= \(from)"] : ["rowid >= \(from)", "rowid < \(to)"]
        }
    }

    /// Below this many rows, a second connection and thread cost more than they save.
    static let minimumRowsToSplit: Int64 = 10_000
}

/// What the scan selects, worked out once for all its streams; each stream prepares its own
/// statements (dictionary lookups, deferred reads) on its own connection.
private struct SQLiteAuditScanPlan {
    let table: String
    /// The selected expressions (the rowid last when some columns are read later by it).
    var select: [String] = []
    /// Each scan column's place in `select`; -1 for one read by rowid for the rows that match.
    var position: [Int] = []
    /// Each scan column's dictionary, when its values are interned.
    var dictionaries: [String?] = []
    var later: [String] = []

    init(_ columns: [AuditScanColumn], layout: AuditStorage.Rows) {
        table = quoteIdentifier(layout.table)
        for c in columns {
            var expression = quoteIdentifier(c.name)
            var dictionary: String?
            if layout.interned, let i = AuditLayout.columns.firstIndex(where: { $0.name == c.name }), let type = AuditLayout.internedType[i] {
                dictionary = ValueDictionary.table(for: type)
                expression = quoteIdentifier(AuditLayout.physicalName(c.name))
            }
            dictionaries.append(dictionary)
            if c.outputOnly && dictionary == nil {
                later.append(expression)
                position.append(-1)
                continue
            }
            // An interned column is an id in the row: cheaper read than held back.
            if let verbs = c.onlyForVerbs, dictionary == nil {
                expression = "CASE WHEN verb COLLATE NOCASE IN (\(verbs.map(PostgresSchema.literal).joined(separator: ", "))) THEN \(expression) END"
            }
            position.append(select.count)
            select.append(expression + " AS " + quoteIdentifier(c.name))
        }
        if !later.isEmpty { select.append("rowid") }
    }

    /// Reads the rows matching `filters` over `connection`, as stream `stream`.
    func read(
        _ stream: Int, over connection: ReadOnlyConnection, filters: [String], limits: QueryLimits,
        _ body: @escaping (_ stream: Int, AuditScanRow) throws -> Void
    ) throws {
        let lookups = try dictionaries.map { try $0.map { try connection.valueLookup(table: $0) } }
        let deferred = later.isEmpty ? nil : try connection.rowLookup("SELECT " + later.joined(separator: ", ") + " FROM \(table) WHERE rowid = ?")
        let state = AuditScanState(lookups, position: position, deferred: deferred)
        let sql = "SELECT " + select.joined(separator: ", ") + " FROM " + table + (filters.isEmpty ? "" : " WHERE " + filters.joined(separator: " AND "))
        try withExtendedLifetime(state) {
            try connection.run(sql, limits: limits, into: RawRows { row in try body(stream, AuditScanRow(sqlite: row, postgres: nil, scan: state)) })
        }
    }
}

/// The integers of a one-row result (nil for NULL).
private final class IntegerRow: QuerySink {
    var values: [Int64?] = []
    func begin(columns: [QueryColumn]) {}
    func row(_ row: [QueryValue]) { values = row.map { if case .int(let n) = $0 { n } else { nil } } }
    func end() {}
}

/// A sink of raw rows handed to a closure.
private final class RawRows: RawQuerySink {
    let each: (StoreRow) throws -> Void
    init(_ each: @escaping (StoreRow) throws -> Void) { self.each = each }
    func begin(columns: [QueryColumn]) throws {}
    func row(_ values: [QueryValue]) throws {}
    func row(raw: StoreRow) throws { try each(raw) }
    func end() throws {}
}
