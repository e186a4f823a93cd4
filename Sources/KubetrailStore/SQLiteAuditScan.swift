import GRDBSQLite
import KubetrailTables

extension SQLiteStore {
    /// Reads the physical rows, interned columns as their ids (`AuditLayout`): the view would
    /// run a subquery per row for each, where the scan looks each distinct value up once.
    /// One stream: two connections would see two snapshots of a database being written, and
    /// on one the pack is within its goal.
    public func scanAudit(_ columns: [AuditScanColumn], scope: AuditScanScope, selection: AuditScanSelection?, limits: QueryLimits,
                          streams: Int, _ body: (_ stream: Int, AuditScanRow) throws -> Void) throws -> [QueryColumn] {
        let layout = try pool.read { try AuditStorage.rows($0) }
        let connection = try ReadOnlyConnection(path: path)
        var lookups: [ReadOnlyConnection.ValueLookup?] = []
        var select: [String] = [], later: [String] = [], position: [Int] = []
        for c in columns {
            var expression = quoteIdentifier(c.name)
            if layout.interned, let i = AuditLayout.columns.firstIndex(where: { $0.name == c.name }), let type = AuditLayout.internedType[i] {
                lookups.append(try connection.valueLookup(table: ValueDictionary.table(for: type)))
                expression = quoteIdentifier(AuditLayout.physicalName(c.name))
            } else {
                lookups.append(nil)
            }
            if c.outputOnly && lookups.last! == nil {
                later.append(expression)
                position.append(-1)
                continue
            }
            // An interned column is an id in the row: cheaper read than held back.
            if let verbs = c.onlyForVerbs, lookups.last! == nil {
                expression = "CASE WHEN verb COLLATE NOCASE IN (\(verbs.map(PostgresSchema.literal).joined(separator: ", "))) THEN \(expression) END"
            }
            position.append(select.count)
            select.append(expression + " AS " + quoteIdentifier(c.name))
        }
        let table = quoteIdentifier(layout.table)
        var deferred: ReadOnlyConnection.RowLookup?
        if !later.isEmpty {
            select.append("rowid")
            deferred = try connection.rowLookup("SELECT " + later.joined(separator: ", ") + " FROM \(table) WHERE rowid = ?")
        }
        // NOCASE folds ASCII letters only, as the evaluator does.
        let filters = scope.conditions(chainRow: "rowid", pointer: "row_rowid") + (selection.map { [$0.sql(folded: { "\($0) COLLATE NOCASE" }, literal: PostgresSchema.literal)] } ?? [])
        let sql = "SELECT " + select.joined(separator: ", ") + " FROM " + table
            + (filters.isEmpty ? "" : " WHERE " + filters.joined(separator: " AND "))
        let state = AuditScanState(lookups, position: position, deferred: deferred)
        try withoutActuallyEscaping(body) { body in
            try connection.run(sql, limits: limits, into: RawRows { row in try body(0, AuditScanRow(sqlite: row, postgres: nil, scan: state)) })
        }
        return withExtendedLifetime(state) { columns.map(\.queryColumn) }
    }
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
