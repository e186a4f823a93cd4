import Foundation
import KubetrailTables

extension PostgresStore {
    /// Reads the rows by binary COPY (`CopyBinary`). With `streams` above 1 and a table big enough, the rows are
    /// split by page ranges of each partition (`ctid`) over that many connections, which share
    /// the first one's snapshot (`pg_export_snapshot`, as `pg_dump -j` does): one PostgreSQL
    /// process formats the rows of one stream, and its rows are evaluated on a thread of their
    /// own. One process formatting a million rows takes seven times as long as the parallel
    /// scan the engine runs for a count.
    public func scanAudit(
        _ columns: [AuditScanColumn], scope: AuditScanScope, selection: AuditScanSelection?, limits: QueryLimits,
        streams: Int, _ body: (_ stream: Int, AuditScanRow) throws -> Void
    ) throws -> [QueryColumn] {
        let select =
            "SELECT "
            + columns.map { c -> String in
                let name = quoteIdentifier(c.name)
                guard let verbs = c.onlyForVerbs else { return name }
                return "CASE WHEN \(Self.folded("verb")) IN (\(verbs.map(PostgresSchema.literal).joined(separator: ", "))) THEN \(name) END AS \(name)"
            }.joined(separator: ", ")
        let filters =
            scope.conditions(chainRow: "(tp_id, stage_timestamp)", pointer: "tp_id, tp_timestamp::timestamptz")
            + (selection.map { [$0.sql(folded: Self.folded, literal: PostgresSchema.literal)] } ?? [])
        func sql(from source: String, _ more: [String] = []) -> String {
            let all = filters + more
            return select + " FROM " + source + (all.isEmpty ? "" : " WHERE " + all.joined(separator: " AND "))
        }
        let table = quoteIdentifier(AuditLogRow.schema.name)
        let parallel = streams > 1
        let query = PostgresQuery(
            connection: try connect(), limits: limits,
            begin: parallel ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN READ ONLY",
            rowCount: parallel ? SharedRowCount() : nil)
        let states = (0..<max(1, streams)).map { _ in AuditScanState() }
        try query.inTransaction { c, stop in
            var types: [UInt32] = []
            try c.stream("SELECT * FROM (\(sql(from: table))) AS scanned LIMIT 0", stop: stop, begin: { types = $0.map(\.type) }, row: { _ in })
            // Text and lists a rule tests are numbered by value (a JSON document is read by path).
            let numbered = zip(columns, types).map { c, type in
                !c.outputOnly && c.onlyForVerbs == nil
                    && [PostgresValues.textOID, PostgresValues.varcharOID, PostgresValues.textArrayOID, PostgresValues.varcharArrayOID].contains(type)
            }
            for s in states {
                s.types = types
                s.numberValues(numbered)
            }
            func rows(_ stream: Int, _ connection: PostgresConnection, _ stop: PostgresStop, _ text: String) throws {
                let state = states[stream]
                try query.copyRows(connection, stop, select: text, columns: types.count) { row in
                    state.row += 1
                    try body(stream, AuditScanRow(sqlite: nil, postgres: row, scan: state))
                }
            }
            guard parallel, let parts = try Self.pageRanges(of: AuditLogRow.schema.name, streams: streams, c) else {
                return try rows(0, c, stop, sql(from: table))
            }
            let texts = parts.map { ranges in
                ranges.map { sql(from: "ONLY " + $0.table, $0.conditions) }.joined(separator: " UNION ALL ")
            }
            guard let snapshot = try c.execute("SELECT pg_export_snapshot()").rows.first?.first ?? nil else {
                throw PostgresConnection.Failure(sqlState: nil, message: "PostgreSQL exported no snapshot")
            }
            let others = try texts.dropFirst().map { _ in try connect() }
            let scan = ScanStreams()
            try scan.run(texts.count) { k in
                // A stream that fails stops the others at their next row.
                let stopped = PostgresStop(
                    check: { scan.failed ? "another part of the scan failed" : stop.check() },
                    heartbeat: k == 0 ? stop.heartbeat : nil)
                if k == 0 { return try rows(0, c, stopped, texts[0]) }
                var part = query
                part.connection = others[k - 1]
                part.setup = ["SET TRANSACTION SNAPSHOT " + PostgresSchema.literal(snapshot)]
                try part.inTransaction { connection, _ in try rows(k, connection, stopped, texts[k]) }
            }
        }
        return withExtendedLifetime(states) { columns.map(\.queryColumn) }
    }

    /// A column lowered in ASCII letters only, as the evaluator folds: under the "C" collation
    /// `lower` leaves every other character alone (a Turkish locale would lower `I` to `ı`).
    static func folded(_ column: String) -> String { "lower(\(column) COLLATE \"C\")" }

    /// The table's leaf partitions split into `streams` parts by page: each part a list of
    /// (partition, ctid condition). The last part's ranges are open-ended, so pages added since
    /// they were counted are read too (their rows are past the snapshot, but never missed).
    /// Nil when the table is too small to be worth more than one stream, or when a partition
    /// cannot be read directly (a role granted the parent only).
    static func pageRanges(of table: String, streams: Int, _ c: PostgresConnection) throws -> [[(table: String, conditions: [String])]]? {
        let leaves = try c.execute(
            """
            SELECT p.relid::regclass::text, pg_relation_size(p.relid) / current_setting('block_size')::bigint, has_table_privilege(p.relid, 'SELECT')
            FROM pg_partition_tree($1::regclass) p WHERE p.isleaf
            """, [table]
        ).rows
        guard leaves.allSatisfy({ $0[2] == "t" }) else { return nil }
        let pages = leaves.map { (name: $0[0] ?? "", pages: Int64($0[1] ?? "") ?? 0) }
        guard pages.reduce(0, { $0 + $1.pages }) >= minimumPagesToSplit else { return nil }
        let parts = (0..<streams).map { k in
            pages.compactMap { leaf -> (table: String, conditions: [String])? in
                let n = Int64(streams)
                let low = leaf.pages * Int64(k) / n, high = leaf.pages * Int64(k + 1) / n
                if k == streams - 1 { return (leaf.name, low == 0 ? [] : ["ctid >= '(\(low),0)'::tid"]) }
                guard high > low else { return nil }
                return (leaf.name, ["ctid >= '(\(low),0)'::tid", "ctid < '(\(high),0)'::tid"])
            }
        }
        return parts.filter { !$0.isEmpty }
    }

    /// 8 MiB of rows: below it, a second connection costs more than it saves.
    static let minimumPagesToSplit: Int64 = 1024
}
