import Foundation
import KubetrailTables

/// Audit rows on PostgreSQL: deduplicated by `tp_id`, conflicts kept apart, the rest copied in
/// and chained — all under the cluster's chain lock, which every aggregator writing that
/// cluster takes, so two of them never store one event twice or fork its chain.
extension PostgresTransaction {
    private struct Pending {
        var index: Int
        var values: [ColumnValue]
        var rowHash: [UInt8]
        var id: String
        var timestamp: String
        var cluster: String
        var copyLine: [UInt8]?
    }

    static let idColumn = AuditLogRow.schema.columns.firstIndex { $0.name == "tp_id" }!
    static let timestampColumn = AuditLogRow.schema.columns.firstIndex { $0.name == "tp_timestamp" }!

    func insertAudit<R: TableRow>(_ rows: [PreparedRow<R>]) throws -> [InsertOutcome] {
        let schema = AuditLogRow.schema
        var outcomes = [InsertOutcome](repeating: .duplicate, count: rows.count)
        // What would be stored: NUL and escapes PostgreSQL refuses made storable, and the row
        // hashed as stored, so `verify` recomputes the same hash from what it reads back.
        var pending: [Pending] = rows.enumerated().map { i, row in
            if row.postgresReady {
                return Pending(
                    index: i, values: row.values, rowHash: row.rowHash!, id: row.id, timestamp: row.timestamp,
                    cluster: row.cluster, copyLine: row.copyLine)
            }
            let storable = PostgresValues.storable(row.values, schema.columns)
            let values = storable ?? row.values
            // The id and cluster as stored (a NUL in them replaced too), for the chain and lookups.
            func text(_ column: Int, else fallback: String) -> String {
                if case .text(let s) = values[column] { return s }
                return fallback
            }
            return Pending(
                index: i, values: values, rowHash: storable.map { RowHash.of($0) } ?? row.rowHash!,
                id: text(Self.idColumn, else: row.id), timestamp: text(Self.timestampColumn, else: row.timestamp),
                cluster: storable == nil ? row.cluster : row.cluster.replacingOccurrences(of: "\u{0}", with: PostgresValues.nulReplacement))
        }
        try lockChains(Set(pending.map(\.cluster)))
        // Earlier in this call: a copy is a duplicate, anything else a conflict.
        var first: [String: Pending] = [:]
        var unique: [Pending] = []
        for p in pending {
            if let earlier = first[p.id] {
                outcomes[p.index] = try settleRepeat(p, stored: earlier.values.map(QueryValue.init), storedRowHash: earlier.rowHash)
            } else {
                first[p.id] = p
                unique.append(p)
            }
        }
        pending = unique
        // Stored before (by any aggregator): found through the chain, whose entries point at rows.
        let found = try c.execute(
            """
            SELECT c.tp_id, c.row_hash, c.tp_timestamp FROM kubetrail_audit_chain c
            WHERE c.tp_id = ANY($1::text[]) AND EXISTS (SELECT 1 FROM kubernetes_audit_logs a WHERE a.tp_id = c.tp_id AND a.stage_timestamp = c.tp_timestamp::timestamptz)
            """, [PostgresValues.arrayLiteral(pending.map(\.id))]
        ).rows
        var stored: [String: (hash: [UInt8], timestamp: String)] = [:]
        for r in found { if let id = r[0], let hash = r[1].flatMap(PostgresChain.bytea), let ts = r[2] { stored[id] = (hash, ts) } }
        var fresh: [Pending] = []
        for p in pending {
            guard let s = stored[p.id] else { fresh.append(p); continue }
            if s.hash == p.rowHash { continue }
            guard let values = try PostgresChain.auditValues(c, id: p.id, timestamp: s.timestamp) else { fresh.append(p); continue }
            outcomes[p.index] = try settleRepeat(p, stored: values)
        }
        guard !fresh.isEmpty else { return outcomes }
        try ensurePartitions(schema.name, fresh.map(\.timestamp))
        let columns = schema.columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
        // Straight in, as every row is new by the chain; a row stored with no chain entry (put
        // there behind the writers' backs) makes the COPY fail on its key, and then the batch
        // goes through staging, where the database says which rows are new.
        try c.execute("SAVEPOINT kubetrail_audit_copy")
        do {
            try c.copyIn("COPY kubernetes_audit_logs (\(columns)) FROM STDIN", lines: try fresh.map { try Self.copyLine($0, schema) })
            try c.execute("RELEASE SAVEPOINT kubetrail_audit_copy")
        } catch let f as PostgresConnection.Failure where f.sqlState == "23505" {
            try c.execute("ROLLBACK TO SAVEPOINT kubetrail_audit_copy")
            let stage = try stagingTable(schema)
            try c.copyIn("COPY \(stage) (\(columns)) FROM STDIN", lines: try fresh.map { try Self.copyLine($0, schema) })
            let inserted = Set(
                try c.execute(
                    """
                    INSERT INTO kubernetes_audit_logs (\(columns)) SELECT \(columns) FROM \(stage)
                    ON CONFLICT (tp_id, stage_timestamp) DO NOTHING RETURNING tp_id
                    """
                ).rows.compactMap { $0[0] })
            try c.execute("DELETE FROM \(stage)")
            for p in fresh where !inserted.contains(p.id) {
                let stored = try PostgresChain.auditValues(c, id: p.id, timestamp: p.timestamp) ?? []
                outcomes[p.index] = try settleRepeat(p, stored: stored)
            }
            fresh = fresh.filter { inserted.contains($0.id) }
            guard !fresh.isEmpty else { return outcomes }
        }
        try chain(fresh)
        for p in fresh { outcomes[p.index] = .inserted }
        return outcomes
    }

    private static func copyLine(_ p: Pending, _ schema: TableSchema) throws -> [UInt8] {
        if let line = p.copyLine { return line }
        var line: [UInt8] = []
        CopyText.append(try copyRow(p.values, schema), to: &line)
        return line
    }

    /// A second row under a stored id: a duplicate when the event's own columns match (who
    /// delivered it, and when, may differ), else a conflict, recorded.
    private func settleRepeat(_ p: Pending, stored: [QueryValue], storedRowHash: [UInt8]? = nil) throws -> InsertOutcome {
        if storedRowHash == p.rowHash || AuditContent.hash(stored) == AuditContent.hash(p.values) { return .duplicate }
        try recordConflict(p.values, storedSource: source(stored))
        return .conflict
    }

    private func source(_ values: [QueryValue]) -> String {
        let columns = AuditLogRow.schema.columns
        return ["tp_source_type", "tp_source_name"].compactMap { name -> String? in
            guard let i = columns.firstIndex(where: { $0.name == name }), case .text(let s) = values[i] else { return nil }
            return s
        }.joined(separator: " ")
    }

    private func recordConflict(_ values: [ColumnValue], storedSource: String) throws {
        let columns = AuditLogRow.schema.columns
        func text(_ name: String) -> String {
            guard let i = columns.firstIndex(where: { $0.name == name }), case .text(let s) = values[i] else { return "" }
            return s
        }
        try c.execute(
            """
            INSERT INTO kubetrail_audit_conflicts (tp_id, audit_id, stage, cluster, received_at, stored_source, conflicting_source, row_json)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            [
                text("tp_id"), text("audit_id"), text("stage"), text("tp_index"), Timestamp.now.iso8601, storedSource,
                [text("tp_source_type"), text("tp_source_name")].filter { !$0.isEmpty }.joined(separator: " "), AuditContent.json(values)
            ])
    }

    /// Takes each cluster's chain lock once per transaction, in name order: the cluster's row
    /// in kubetrail_chain_locks, locked (made on first use) until the transaction ends.
    func lockChains(_ clusters: Set<String>) throws {
        for cluster in clusters.subtracting(lockedClusters).sorted() {
            try c.execute(
                """
                INSERT INTO kubetrail_chain_locks (cluster) VALUES ($1) ON CONFLICT (cluster) DO UPDATE SET cluster = EXCLUDED.cluster
                """, [cluster])
            lockedClusters.insert(cluster)
        }
    }

    /// Appends the chain entries of the rows just copied in, one COPY for all.
    private func chain(_ rows: [Pending]) throws {
        let seqs = try c.execute("SELECT nextval(pg_get_serial_sequence('kubetrail_audit_chain', 'seq')) FROM generate_series(1, $1)", [String(rows.count)])
            .rows.compactMap { $0[0].flatMap { Int64($0) } }.sorted()
        guard seqs.count == rows.count else { throw StoreError.sql("the audit chain's sequence gave \(seqs.count) numbers for \(rows.count) rows") }
        var entries: [[String?]] = []
        entries.reserveCapacity(rows.count)
        for (p, seq) in zip(rows, seqs) {
            let previous = try chainHead(p.cluster)
            let hash = ChainHash.next(previous.hash, cluster: p.cluster, id: p.id, timestamp: p.timestamp, rowHash: p.rowHash)
            chainUpdates[p.cluster] = ChainHeads.Head(seq: seq, hash: hash)
            entries.append([String(seq), p.cluster, p.id, p.timestamp, PostgresValues.byteaText(p.rowHash), PostgresValues.byteaText(hash)])
        }
        try c.copyIn("COPY kubetrail_audit_chain (seq, cluster, tp_id, tp_timestamp, row_hash, chain_hash) FROM STDIN", rows: entries)
    }

    /// The head to extend. Other aggregators may have extended the chain since this one last
    /// did; what must hold is that this one's last entry is still where it left it — a tail
    /// deleted or rewritten behind the writers' backs is refused, as on SQLite.
    private func chainHead(_ cluster: String) throws -> ChainHeads.Head {
        if let h = chainUpdates[cluster] { return h }
        if let reason = heads?.refusal(cluster) { throw ChainTampered(cluster: cluster, detail: reason) }
        let stored = try PostgresChain.storedHead(c, cluster: cluster)
        if let mine = heads?.vouched(cluster, stored: stored), mine != stored {
            let kept = try PostgresChain.entryHash(c, cluster: cluster, seq: mine.seq)
            let pruned =
                try kept == nil
                && (c.execute("SELECT min(seq) FROM kubetrail_audit_chain WHERE cluster = $1", [cluster]).rows[0][0]
                    .flatMap { Int64($0) }.map { $0 > mine.seq } ?? false)
            if kept != mine.hash && !pruned {
                let found = kept.map { "entry \(mine.seq) now has head \(Hex.encode($0).prefix(16))…" } ?? "entry \(mine.seq) is gone"
                let reason = "this aggregator's last entry is seq \(mine.seq), head \(Hex.encode(mine.hash).prefix(16))…; \(found)"
                heads?.refuse(cluster, because: reason)
                throw ChainTampered(cluster: cluster, detail: reason)
            }
        }
        return stored ?? ChainHeads.Head(seq: 0, hash: ChainHash.genesis)
    }
}

extension QueryValue {
    /// A bound value as it reads back (booleans as the integers both backends hash).
    init(_ v: ColumnValue) {
        switch v {
        case .null: self = .null
        case .int(let i): self = .int(i)
        case .bool(let b): self = .int(b ? 1 : 0)
        case .text(let s): self = .text(s)
        }
    }
}
