import KubetrailCore
import KubetrailTables

/// PostgreSQL's side of `ChangeJournal`. Several aggregators write at once, so no sequence is
/// commit-ordered: an entry is keyed by its writing transaction's id (`xid8`, which never
/// wraps or repeats) and an ordinal within it, and a follower reads only below the snapshot
/// horizon, where every transaction has ended (`PostgresTail`).
enum PostgresChangeJournal {
    static let create = [
        """
        CREATE TABLE kubetrail_changes (
          kt_table smallint NOT NULL,
          kt_tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
          kt_ord bigint GENERATED ALWAYS AS IDENTITY,
          kt_row_id text NOT NULL,
          kt_row_time timestamptz,  -- the partitioned tables' time column: with the id, the row's key
          kt_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (kt_table, kt_tx, kt_ord))
        """,
        "CREATE INDEX kubetrail_changes_row ON kubetrail_changes (kt_table, kt_row_id)",
        """
        INSERT INTO kubetrail_cursors (name, value, updated_at)
        VALUES ('\(ChangeJournal.storeIDName)', substr(md5(random()::text || clock_timestamp()::text), 1, 16), now())
        ON CONFLICT (name) DO NOTHING
        """
    ]
}

extension PostgresTransaction {
    /// Journals the rows this call stored or replaced; a replaced row's older entries go first.
    func journal<R: TableRow>(_ rows: [PreparedRow<R>], _ outcomes: [InsertOutcome]) throws {
        let schema = R.schema
        guard let table = ChangeJournal.number(schema) else { return }
        let idIndex = schema.columns.firstIndex { $0.name == "tp_id" }!
        let timeIndex = PostgresSchema.isPartitioned(schema) ? schema.columns.firstIndex { $0.name == schema.timeColumn } : nil
        // One entry per row, at its last change in this call: a partial line completed in the
        // same batch, or two versions of one object, are one change to a follower.
        var last: [String: (order: Int, time: String?)] = [:]
        var replaced: [String] = []
        for (i, (row, outcome)) in zip(rows, outcomes).enumerated() where outcome == .inserted || outcome == .updated {
            let values = row.postgresValues
            guard case .text(let id) = values[idIndex] else { continue }
            var time: String?
            if let timeIndex, case .text(let t) = values[timeIndex] { time = t }
            if outcome == .updated { replaced.append(id) }
            last[id] = (i, time)
        }
        guard !last.isEmpty else { return }
        var lines: [UInt8] = []
        for (id, entry) in last.sorted(by: { $0.value.order < $1.value.order }) {
            CopyText.append([String(table), id, entry.time], to: &lines)
        }
        if !replaced.isEmpty {
            try c.execute(
                "DELETE FROM kubetrail_changes WHERE kt_table = $1 AND kt_row_id = ANY($2::text[])", [String(table), PostgresValues.arrayLiteral(replaced)])
        }
        _ = try c.copyIn("COPY kubetrail_changes (kt_table, kt_row_id, kt_row_time) FROM STDIN", lines: [lines])
    }

    /// Prunes entries older than `cutoff`, oldest first, at most `limit` per table, and
    /// remembers the newest pruned (`TailError.expired`).
    func pruneChanges(olderThan cutoff: Timestamp, limit: Int) throws -> Int {
        var pruned = 0
        for schema in ChangeJournal.tables {
            let table = String(ChangeJournal.number(schema)!)
            let last = try c.execute(
                """
                WITH old AS (
                  SELECT kt_tx, kt_ord FROM kubetrail_changes WHERE kt_table = $1 AND kt_at < $2::timestamptz ORDER BY kt_tx, kt_ord LIMIT $3),
                gone AS (
                  DELETE FROM kubetrail_changes k USING old WHERE k.kt_table = $1 AND k.kt_tx = old.kt_tx AND k.kt_ord = old.kt_ord
                  RETURNING k.kt_tx, k.kt_ord)
                SELECT kt_tx::text, kt_ord, (SELECT count(*) FROM gone) FROM gone ORDER BY kt_tx DESC, kt_ord DESC LIMIT 1
                """, [table, cutoff.iso8601, String(limit)]
            ).rows.first
            guard let last, let tx = last[0], let ord = last[1], let position = PostgresTailPage.position(tx + "." + ord) else { continue }
            pruned += Int(last[2] ?? "0") ?? 0
            // Never lowered: entries are pruned by age, which is not quite key order.
            let name = ChangeJournal.prunedName(Int(table)!)
            if let earlier = try cursor(name).flatMap(PostgresTailPage.position), earlier >= position { continue }
            try setCursor(name, tx + "." + ord)
        }
        return pruned
    }
}
