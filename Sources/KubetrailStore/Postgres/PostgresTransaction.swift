import Foundation
import KubetrailTables

/// PostgreSQL's `StoreTransaction`: one transaction on the store's writer connection (or a
/// read-only snapshot on a pooled one).
final class PostgresTransaction: StoreTransaction {
    let store: PostgresStore
    let c: PostgresConnection
    /// The chain heads this process committed (nil for a reader).
    let heads: ChainHeads?
    /// Where this transaction took each audit chain, published once it commits.
    var chainUpdates: [String: ChainHeads.Head] = [:]
    /// Clusters whose chain lock this transaction holds.
    var lockedClusters: Set<String> = []
    /// Partitions this transaction created, known to the store once it commits.
    private(set) var createdPartitions: [String: Set<Int64>] = [:]

    init(store: PostgresStore, connection: PostgresConnection, heads: ChainHeads?) {
        self.store = store
        self.c = connection
        self.heads = heads
    }

    // MARK: Rows

    func insert<R: TableRow>(_ row: PreparedRow<R>) throws -> InsertOutcome {
        try insert([row])[0]
    }

    func insert<R: TableRow>(_ rows: [PreparedRow<R>]) throws -> [InsertOutcome] {
        let outcomes = try store(rows)
        try journal(rows, outcomes)
        return outcomes
    }

    private func store<R: TableRow>(_ rows: [PreparedRow<R>]) throws -> [InsertOutcome] {
        guard !rows.isEmpty else { return [] }
        let schema = R.schema
        if PostgresSchema.isAudit(schema) { return try insertAudit(rows) }
        if case .replaceIfNewer(let column) = schema.conflict { return try rows.map { try insertEvolving($0, schema, versionColumn: column) } }
        // Rows with one id go in rounds, so a later one meets the earlier as stored, as it
        // would one insert at a time (a partial line, then the line completing it).
        var outcomes = [InsertOutcome](repeating: .duplicate, count: rows.count)
        for round in Self.rounds(rows.map(\.id)) {
            let done = try append(round.map { rows[$0] }, schema)
            for (i, o) in zip(round, done) { outcomes[i] = o }
        }
        return outcomes
    }

    /// Indices grouped so no id repeats within a group, each id's occurrences in order.
    static func rounds(_ ids: [String]) -> [[Int]] {
        var rounds: [[Int]] = []
        var seen: [String: Int] = [:]
        for (i, id) in ids.enumerated() {
            let n = seen[id, default: 0]
            seen[id] = n + 1
            if rounds.count <= n { rounds.append([]) }
            rounds[n].append(i)
        }
        return rounds
    }

    /// COPY into the table's staging twin, then one INSERT … ON CONFLICT from it: the database
    /// decides what is new, also against rows another aggregator is committing right now.
    private func append<R: TableRow>(_ rows: [PreparedRow<R>], _ schema: TableSchema) throws -> [InsertOutcome] {
        let storable = rows.map(\.postgresValues)
        if PostgresSchema.isPartitioned(schema) {
            let timeIndex = schema.columns.firstIndex { $0.name == schema.timeColumn }!
            try ensurePartitions(
                schema.name,
                storable.map { v in
                    if case .text(let t) = v[timeIndex] { return t }
                    return ""
                })
        }
        let columns = schema.columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
        let copyRows = try Self.copyLines(rows, storable, schema)
        // Almost every row is new: straight in, as a bare COPY would. A row already stored
        // (a re-sent line, a partial line completed) fails the COPY on its key, and only then
        // do the rows go through staging, where the database sorts new from stored.
        try c.execute("SAVEPOINT kubetrail_copy")
        do {
            try c.copyIn("COPY \(quoteIdentifier(schema.name)) (\(columns)) FROM STDIN", lines: copyRows)
            try c.execute("RELEASE SAVEPOINT kubetrail_copy")
            return Array(repeating: .inserted, count: rows.count)
        } catch let f as PostgresConnection.Failure where f.sqlState == "23505" {
            try c.execute("ROLLBACK TO SAVEPOINT kubetrail_copy")
        }
        let stage = try stagingTable(schema)
        try c.copyIn("COPY \(stage) (\(columns)) FROM STDIN", lines: copyRows)
        let key = PostgresSchema.isPartitioned(schema) ? "tp_id, \(quoteIdentifier(schema.timeColumn))" : "tp_id"
        var changed: [String: InsertOutcome] = [:]
        for r in try c.execute(
            """
            INSERT INTO \(quoteIdentifier(schema.name)) (\(columns)) SELECT \(columns) FROM \(stage) ON CONFLICT (\(key)) DO NOTHING RETURNING tp_id
            """
        ).rows {
            if let id = r[0] { changed[id] = .inserted }
        }
        // Only a complete row replaces a stored partial one; asked only when a row was not new
        // (PostgreSQL cannot say "inserted or updated" from one statement on a partitioned table).
        if case .replaceWhileStored(let flag) = schema.conflict, changed.count < rows.count {
            let f = quoteIdentifier(flag), time = quoteIdentifier(schema.timeColumn)
            let sets = schema.columns.filter { $0.name != "tp_id" }.map { "\(quoteIdentifier($0.name)) = s.\(quoteIdentifier($0.name))" }.joined(
                separator: ", ")
            for r in try c.execute(
                """
                UPDATE \(quoteIdentifier(schema.name)) AS t SET \(sets) FROM \(stage) s
                WHERE t.tp_id = s.tp_id AND t.\(time) = s.\(time) AND t.\(f) AND NOT s.\(f) RETURNING t.tp_id
                """
            ).rows {
                if let id = r[0], changed[id] == nil { changed[id] = .updated }
            }
        }
        try c.execute("DELETE FROM \(stage)")
        return storable.map { v in
            guard case .text(let id) = v[0] else { return .duplicate }
            return changed[id] ?? .duplicate
        }
    }

    /// Events and resources: stored when new, replaced by a newer `resourceVersion` — decided
    /// in one statement, so two writers of one object cannot interleave a lookup and a write.
    /// Newer as `ResourceVersion.isNewer` says: numerically when both are integers, else when
    /// they differ.
    private func insertEvolving<R: TableRow>(_ row: PreparedRow<R>, _ schema: TableSchema, versionColumn: String) throws -> InsertOutcome {
        let values = row.postgresValues
        let t = quoteIdentifier(schema.name), v = quoteIdentifier(versionColumn)
        let columns = schema.columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
        let placeholders = (1...schema.columns.count).map { "$\($0)" }.joined(separator: ", ")
        let sets = schema.columns.filter { $0.name != "tp_id" }.map { "\(quoteIdentifier($0.name)) = EXCLUDED.\(quoteIdentifier($0.name))" }.joined(
            separator: ", ")
        let rows = try c.execute(
            """
            INSERT INTO \(t) AS s (\(columns)) VALUES (\(placeholders))
            ON CONFLICT (tp_id) DO UPDATE SET \(sets)
            WHERE s.\(v) IS NULL OR EXCLUDED.\(v) IS NULL OR CASE WHEN EXCLUDED.\(v) ~ '^[0-9]{1,20}$' AND s.\(v) ~ '^[0-9]{1,20}$'
              THEN EXCLUDED.\(v)::numeric > s.\(v)::numeric ELSE EXCLUDED.\(v) <> s.\(v) END
            RETURNING (xmax = 0)
            """, try Self.copyRow(values, schema)
        ).rows
        guard let inserted = rows.first?.first else { return .duplicate }
        return inserted == "t" ? .inserted : .updated
    }

    static func copyRow(_ values: [ColumnValue], _ schema: TableSchema) throws -> [String?] {
        try zip(values, schema.columns).map { try PostgresValues.copyText($0, $1.type) }
    }

    /// Each row's COPY line: the one prepared with it, else encoded now from its storable
    /// values (which throws the reason a value cannot be one).
    static func copyLines<R: TableRow>(_ rows: [PreparedRow<R>], _ storable: [[ColumnValue]], _ schema: TableSchema) throws -> [[UInt8]] {
        try zip(rows, storable).map { row, values in
            if let line = row.copyLine { return line }
            var line: [UInt8] = []
            CopyText.append(try copyRow(values, schema), to: &line)
            return line
        }
    }

    /// The temporary table shaped like `schema`'s that rows are copied into first.
    func stagingTable(_ schema: TableSchema) throws -> String {
        try Self.makeStagingTable(schema, on: c)
        return quoteIdentifier(Self.stagingName(schema))
    }

    static func stagingName(_ schema: TableSchema) -> String { "kubetrail_stage_" + schema.name }

    /// Made once per connection, and outside a transaction (`PostgresStore.write` calls this
    /// before BEGIN): one made inside would vanish with a rollback while the connection
    /// believed it there.
    static func makeStagingTables(on c: PostgresConnection) throws {
        for schema in KubernetesTables.all {
            if case .replaceIfNewer = schema.conflict { continue }
            try makeStagingTable(schema, on: c)
        }
    }

    private static func makeStagingTable(_ schema: TableSchema, on c: PostgresConnection) throws {
        let name = stagingName(schema)
        guard !c.session.contains(name) else { return }
        try c.execute("CREATE TEMPORARY TABLE IF NOT EXISTS \(quoteIdentifier(name)) (LIKE \(quoteIdentifier(schema.name))) ON COMMIT DELETE ROWS")
        c.session.insert(name)
    }

    /// Creates the day partitions `times` fall in that do not exist yet, in this transaction.
    /// Recent days come from the store's cache; older ones — which another aggregator's
    /// retention may have dropped since — are asked of the catalog.
    func ensurePartitions(_ table: String, _ times: [String]) throws {
        let days = PostgresSchema.days(of: times)
        let recent = PostgresSchema.day(of: .now) - 1
        let cached = store.knownPartitions(table).union(createdPartitions[table] ?? [])
        var missing = days.filter { $0 >= recent }.subtracting(cached)
        let older = days.filter { $0 < recent }
        if !older.isEmpty {
            let names = older.map { PostgresSchema.partitionName(table, day: $0) }
            let existing = Set(
                try c.execute(
                    "SELECT relname FROM pg_class WHERE relname = ANY($1::text[]) AND relkind = 'r'",
                    [PostgresValues.arrayLiteral(names)]
                ).rows.compactMap { $0[0] })
            missing.formUnion(older.filter { !existing.contains(PostgresSchema.partitionName(table, day: $0)) })
        }
        guard !missing.isEmpty else { return }
        try PostgresStore.createPartitions([table: missing], on: c)
        createdPartitions[table, default: []].formUnion(missing)
    }

    // MARK: Batches and cursors

    func recordBatch(id: String, node: String, records: Int) throws -> Bool {
        try c.execute(
            """
            INSERT INTO kubetrail_ingest_batches (batch_id, node, committed_at, records) VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING
            """, [id, node, Timestamp.now.iso8601, String(records)]
        ).affected == 1
    }

    func forgetBatches(committedBefore cutoff: Timestamp) throws -> Int {
        try c.execute("DELETE FROM kubetrail_ingest_batches WHERE committed_at < $1", [cutoff.iso8601]).affected
    }

    func hasBatch(id: String) throws -> Bool {
        try !c.execute("SELECT 1 FROM kubetrail_ingest_batches WHERE batch_id = $1", [id]).rows.isEmpty
    }

    func cursor(_ name: String) throws -> String? {
        try c.execute("SELECT value FROM kubetrail_cursors WHERE name = $1", [name]).rows.first?[0]
    }

    func setCursor(_ name: String, _ value: String) throws {
        try c.execute(
            """
            INSERT INTO kubetrail_cursors (name, value, updated_at) VALUES ($1, $2, $3)
            ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
            """, [name, value, Timestamp.now.iso8601])
    }

    // MARK: Retention and resources

    /// Whole days older than `cutoff` are dropped as partitions (counted first); rows of the
    /// day the cutoff falls in, and of unpartitioned tables, are deleted `limit` at a time.
    func deleteOlder(in schema: TableSchema, than cutoff: Timestamp, limit: Int) throws -> Int {
        let t = quoteIdentifier(schema.name), col = quoteIdentifier(schema.timeColumn)
        if PostgresSchema.isPartitioned(schema) {
            var dropped = 0
            for row in try c.execute(PostgresSchema.listPartitions).rows where row[0] == schema.name {
                guard let name = row[1], let day = PostgresSchema.day(ofPartition: name, table: schema.name),
                    (day + 1) * 86_400_000_000 <= cutoff.microseconds
                else { continue }
                dropped += Int(try c.execute("SELECT count(*) FROM \(quoteIdentifier(name))").rows[0][0] ?? "0") ?? 0
                // DROP locks the whole table: bounded, so a long reader delays retention, not ingest.
                try PostgresStore.withLockTimeout(c) { try c.execute("DROP TABLE \(quoteIdentifier(name))") }
                store.forgetPartition(schema.name, day: day)
            }
            // Then the rows of the day the cutoff falls in: every row before the cutoff goes
            // before the chain's prefix may be pruned (Retention stops at a short count).
            return dropped
                + (try c.execute(
                    "DELETE FROM \(t) WHERE (tableoid, ctid) IN (SELECT tableoid, ctid FROM \(t) WHERE \(col) < $1 LIMIT $2)",
                    [cutoff.iso8601, String(limit)]
                ).affected)
        }
        return try c.execute("DELETE FROM \(t) WHERE tp_id IN (SELECT tp_id FROM \(t) WHERE \(col) < $1 LIMIT $2)", [cutoff.iso8601, String(limit)]).affected
    }

    func resourceIDs(kind: String, cluster: String?, namespaces: [String]?) throws -> Set<String> {
        var sql = "SELECT tp_id FROM kubernetes_resources WHERE resource_type = $1 AND cluster_name IS NOT DISTINCT FROM $2"
        var parameters: [String?] = [kind, cluster]
        if let namespaces {
            sql += " AND (namespace IS NULL OR namespace = '' OR namespace = ANY($3::text[]))"
            parameters.append(PostgresValues.arrayLiteral(namespaces))
        }
        return Set(try c.execute(sql, parameters).rows.compactMap { $0[0] })
    }

    func delete(table schema: TableSchema, id: String) throws -> Bool {
        if let table = ChangeJournal.number(schema) {
            try c.execute("DELETE FROM kubetrail_changes WHERE kt_table = $1 AND kt_row_id = $2", [String(table), id])
        }
        return try c.execute("DELETE FROM \(quoteIdentifier(schema.name)) WHERE tp_id = $1", [id]).affected > 0
    }

    // MARK: The audit chain and its digests

    /// A writer reading a cluster's chain holds it still first (the digest writer checks a span
    /// and signs its head; no other aggregator may extend it in between).
    private func holdChain(_ cluster: String) throws {
        if heads != nil { try lockChains([cluster]) }
    }

    func chainClusters() throws -> [String] { try PostgresChain.clusters(c) }

    func storedChainHead(cluster: String) throws -> ChainHeads.Head? {
        try holdChain(cluster)
        return try PostgresChain.storedHead(c, cluster: cluster)
    }

    func lastDigest(cluster: String) throws -> StoredDigest? {
        try holdChain(cluster)
        return try PostgresChain.lastDigest(c, cluster: cluster)
    }

    func chainSpan(cluster: String, after seq: Int64) throws -> ChainSpan {
        try holdChain(cluster)
        return try PostgresChain.span(c, cluster: cluster, after: seq)
    }
    func signedAuditRetentionCutoff() throws -> Timestamp? { try PostgresChain.signedRetentionCutoff(c) }
    func insertDigest(_ d: StoredDigest) throws { try PostgresChain.insertDigest(c, d) }
    func pruneAuditChain(olderThan cutoff: Timestamp) throws -> Int { try PostgresChain.prune(c, olderThan: cutoff) }

    func walkAuditChain(cluster: String, after seq: Int64, through last: Int64, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws {
        try holdChain(cluster)
        try PostgresChain.walk(c, cluster: cluster, after: seq, through: last, body)
    }
}
