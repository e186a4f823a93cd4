import KubetrailCore
import KubetrailTables

extension PostgresStore {
    /// A page of a follow in one REPEATABLE READ transaction: its statements share one snapshot.
    ///
    /// Entries are read in (transaction id, ordinal) order and only below the snapshot's
    /// horizon (`pg_snapshot_xmin`), where every transaction has committed or rolled back: a
    /// transaction that took its id earlier but commits later is waited for, never skipped.
    /// The order is not strictly commit order, but it never goes back, which is what a cursor
    /// needs. A long-running writing transaction anywhere on the server holds the horizon, and
    /// followers with it.
    public func tail(_ request: TailRequest, into sink: any QuerySink) throws -> TailPage {
        guard let table = ChangeJournal.number(request.table) else { throw TailError.notFollowable(request.table.name) }
        // On a pooled connection: a follower reads a page after every commit, and a new
        // connection each time (TLS, settings) cost more than the page. The transaction ends in
        // ROLLBACK, which undoes any setting the condition changed; session locks it took go too.
        do {
            return try withReader { c in
                var query = PostgresQuery(connection: c, limits: request.limits)
                query.begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                var page: TailPage?
                defer { if c.isHealthy { _ = try? c.execute("SELECT pg_advisory_unlock_all()") } }
                do {
                    try query.inTransaction { c, stop in
                        page = try PostgresTailPage(query: query, c: c, stop: stop, table: table, request: request, sink: sink, store: description)
                            .read()
                    }
                } catch StoreError.sql(let message) where !c.isHealthy {
                    // The connection was lost, not the SQL wrong: worth trying again.
                    throw StoreError.unavailable(store: description, message: message)
                }
                return page!
            }
        } catch {
            throw Self.storeError(error, store: description)
        }
    }
}

/// The statements of one page.
struct PostgresTailPage {
    let query: PostgresQuery
    let c: PostgresConnection
    let stop: PostgresStop
    let table: Int
    let request: TailRequest
    let sink: any QuerySink
    let store: String

    func read() throws -> TailPage {
        let head = try c.execute(
            """
            SELECT (SELECT value FROM kubetrail_cursors WHERE name = $1), pg_current_snapshot()::text,
              to_regclass('kubetrail_changes') IS NOT NULL
            """, [ChangeJournal.storeIDName]
        ).rows[0]
        guard head[2] == "t", let storeID = head[0], let snapshot = head[1] else { throw TailError.noJournal(store) }
        let counted = CountingSink(sink)
        let condition = request.condition.map { " AND (\($0))" } ?? ""
        switch request.start {
        case .since(let since):
            if let check = request.conditionCheck { try query.run(check, on: c, stop: stop, into: counted) }
            if let since {
                let time = quoteIdentifier(request.table.timeColumn)
                try query.run(
                    "SELECT * FROM \(quoteIdentifier(request.table.name)) WHERE \(time) >= '\(since.iso8601)'\(condition) ORDER BY \(time)",
                    on: c, stop: stop, into: counted)
            }
            // Changes of transactions this snapshot saw are in the history (or before since);
            // the rest come next, from the oldest transaction that was still running.
            let xmin = UInt64(snapshot.split(separator: ":")[0])!
            let cursor = TailCursor(store: storeID, table: table, position: xmin, ordinal: -1, snapshot: snapshot)
            return TailPage(cursor: cursor, rows: counted.rows, caughtUp: false)
        case .after(var cursor):
            guard cursor.store == storeID, cursor.table == table else { throw TailError.foreignCursor }
            // A cursor past every transaction this server has started is from a copy of the
            // database restored from before it (its ids restarted lower): not a position here.
            let xmax = UInt64(snapshot.split(separator: ":")[1]) ?? 0
            guard cursor.position <= xmax else { throw TailError.foreignCursor }
            if let pruned = try c.execute("SELECT value FROM kubetrail_cursors WHERE name = $1", [ChangeJournal.prunedName(table)]).rows.first?[0],
                let position = Self.position(pruned), position > (cursor.position, cursor.ordinal),
                !Self.historyCovers(cursor.snapshot, prunedThrough: position.0)
            {
                throw TailError.expired
            }
            if let check = request.conditionCheck { try query.run(check, on: c, stop: stop, into: counted) }
            // The entries after the cursor (not those of transactions the history's snapshot saw), of the journal aliased `a`.
            func range(_ a: String) -> String {
                var r = "\(a).kt_table = \(table) AND (\(a).kt_tx, \(a).kt_ord) > ('\(cursor.position)'::xid8, \(cursor.ordinal))"
                if let seen = cursor.snapshot { r += " AND NOT pg_visible_in_snapshot(\(a).kt_tx, '\(seen)'::pg_snapshot)" }
                return r
            }
            let horizon = "pg_snapshot_xmin(pg_current_snapshot())"
            let scan = try c.execute(
                """
                SELECT count(*), (array_agg(kt_tx::text ORDER BY kt_tx DESC, kt_ord DESC))[1], (array_agg(kt_ord ORDER BY kt_tx DESC, kt_ord DESC))[1]
                FROM (SELECT kt_tx, kt_ord FROM kubetrail_changes k
                      WHERE \(range("k")) AND kt_tx < \(horizon) ORDER BY kt_tx, kt_ord LIMIT \(max(1, request.maxEntries))) p
                """
            ).rows[0]
            let entries = Int(scan[0] ?? "0") ?? 0
            // Caught up below the horizon: whether committed entries wait above it, for a
            // transaction still open (the follower then looks again soon, not after its poll).
            func heldBack() throws -> Bool {
                try c.execute("SELECT EXISTS (SELECT 1 FROM kubetrail_changes k WHERE \(range("k")) AND kt_tx >= \(horizon))").rows[0][0] == "t"
            }
            guard entries > 0, let tx = scan[1].flatMap({ UInt64($0) }), let ord = scan[2].flatMap({ Int64($0) }) else {
                return TailPage(cursor: cursor, rows: 0, caughtUp: true, heldBack: try heldBack())
            }
            // The table under its own name, so a condition may name it (`kubernetes_events.reason = …`).
            let schema = request.table
            let t = quoteIdentifier(schema.name)
            var join = "\(t).tp_id = j.kt_row_id"
            if PostgresSchema.isPartitioned(schema) { join += " AND \(t).\(quoteIdentifier(schema.timeColumn)) = j.kt_row_time" }
            let columns = schema.columns.map { t + "." + quoteIdentifier($0.name) }.joined(separator: ", ")
            try query.run(
                """
                SELECT \(columns) FROM kubetrail_changes j JOIN \(t) ON \(join)
                WHERE \(range("j")) AND (j.kt_tx, j.kt_ord) <= ('\(tx)'::xid8, \(ord))\(condition)
                ORDER BY j.kt_tx, j.kt_ord
                """, on: c, stop: stop, into: counted)
            cursor.position = tx
            cursor.ordinal = ord
            // Past the snapshot's xmax no transaction can be one it saw.
            if let xmax = cursor.snapshotXmax, tx >= xmax { cursor.snapshot = nil }
            let caughtUp = entries < max(1, request.maxEntries)
            return TailPage(cursor: cursor, rows: counted.rows, caughtUp: caughtUp, heldBack: caughtUp ? try heldBack() : false)
        }
    }

    /// Whether every entry pruned (all of transactions up to `tx`) was in the history read in
    /// `snapshot`: each such transaction had ended when the snapshot was taken (below its xmax,
    /// and not among those it saw running).
    static func historyCovers(_ snapshot: String?, prunedThrough tx: UInt64) -> Bool {
        guard let snapshot else { return false }
        let fields = snapshot.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3, let xmax = UInt64(fields[1]), tx < xmax else { return false }
        return !fields[2].split(separator: ",").contains { UInt64($0).map { $0 <= tx } ?? true }
    }

    /// `tx.ord` as stored for the newest pruned entry.
    static func position(_ text: String) -> (UInt64, Int64)? {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let tx = UInt64(parts[0]), let ord = Int64(parts[1]) else { return nil }
        return (tx, ord)
    }
}
