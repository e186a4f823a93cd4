import GRDB
import GRDBSQLite
import KubetrailCore
import KubetrailTables

/// SQLite's side of `ChangeJournal`: the schema, and the entries the writer adds and removes.
/// One writer commits at a time, so the autoincrement sequence is commit order.
enum SQLiteChangeJournal {
    /// Keyed by (table, sequence) in one b-tree, with one index to find a row's entry: per row
    /// stored, two b-tree inserts. The sequence is one for all tables, kept in
    /// `kubetrail_cursors` and written once per transaction (an AUTOINCREMENT key rewrote
    /// `sqlite_sequence` on every row).
    static let createSQL = """
        CREATE TABLE kubetrail_changes (
          kt_table INTEGER NOT NULL,
          kt_seq INTEGER NOT NULL,
          kt_rowid INTEGER NOT NULL,
          kt_at INTEGER NOT NULL,                    -- Unix seconds, for pruning
          PRIMARY KEY (kt_table, kt_seq)
        ) WITHOUT ROWID;
        CREATE INDEX kubetrail_changes_row ON kubetrail_changes (kt_table, kt_rowid);
        INSERT OR IGNORE INTO kubetrail_cursors (name, value, updated_at)
          VALUES ('kubetrail.store_id', lower(hex(randomblob(8))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
        """

    /// The newest sequence number handed out (never lowered, also when its entry is gone).
    static let sequenceName = "kubetrail.changes_seq"
}

extension SQLiteTransaction {
    /// Records that the row at `rowid` was stored (or, `replaced`, changed: its older entry
    /// goes, so a follower meets the row once, at its latest change).
    func journal(_ schema: TableSchema, rowid: Int64, replaced: Bool) throws {
        guard let table = ChangeJournal.number(schema) else { return }
        if replaced {
            let forget = try journalStatement(1, "DELETE FROM kubetrail_changes WHERE kt_table = ? AND kt_rowid = ?")
            try step(forget, [Int64(table), rowid])
        }
        if journalNext == nil {
            let stored = try String.fetchOne(db, sql: "SELECT value FROM kubetrail_cursors WHERE name = ?", arguments: [SQLiteChangeJournal.sequenceName])
            journalNext = (stored.flatMap { Int64($0) } ?? 0) + 1
        }
        let seq = journalNext!
        journalNext = seq + 1
        let add = try journalStatement(0, "INSERT INTO kubetrail_changes (kt_table, kt_seq, kt_rowid, kt_at) VALUES (?, ?, ?, ?)")
        try step(add, [Int64(table), seq, rowid, journalTime])
    }

    /// Binds integers through the C API and steps once: this runs for every row stored, and
    /// GRDB's argument arrays cost more than the insert (as for the rows themselves).
    private func step(_ statement: Statement, _ values: [Int64]) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        for (i, v) in values.enumerated() { sqlite3_bind_int64(h, Int32(i + 1), v) }
        let rc = sqlite3_step(h)
        sqlite3_reset(h)
        guard rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }

    /// Saves the sequence this transaction reached, with its rows.
    func finishJournal() throws {
        guard let next = journalNext else { return }
        try setCursor(SQLiteChangeJournal.sequenceName, String(next - 1))
    }

    /// Removes the entries of rows about to be deleted: SQLite may give a later row a deleted
    /// row's rowid, and an entry left behind would then show that row twice.
    func forgetChanges(_ schema: TableSchema, rowids list: String) throws {
        guard let table = ChangeJournal.number(schema) else { return }
        try db.execute(sql: "DELETE FROM kubetrail_changes WHERE kt_table = ? AND kt_rowid IN (\(list))", arguments: [table])
    }

    /// Prunes entries older than `cutoff`, oldest first, at most `limit` per table; remembers the
    /// newest pruned so a cursor before it is refused (`TailError.expired`), not silently resumed
    /// past entries it never saw.
    public func pruneChanges(olderThan cutoff: Timestamp, limit: Int) throws -> Int {
        let seconds = cutoff.microseconds / 1_000_000
        var pruned = 0
        for schema in ChangeJournal.tables {
            let table = ChangeJournal.number(schema)!
            // Entries are in time order near enough (the clock only moves forward in practice):
            // the oldest run with an old time goes; the first newer one stops it.
            let oldest = try Row.fetchAll(
                db, sql: "SELECT kt_seq, kt_at FROM kubetrail_changes WHERE kt_table = ? ORDER BY kt_seq LIMIT ?", arguments: [table, limit])
            var last: Int64?
            for r in oldest {
                let at: Int64 = r[1]
                guard at < seconds else { break }
                last = r[0]
            }
            guard let last else { continue }
            try db.execute(sql: "DELETE FROM kubetrail_changes WHERE kt_table = ? AND kt_seq <= ?", arguments: [table, last])
            pruned += db.changesCount
            try setCursor(ChangeJournal.prunedName(table), String(last))
        }
        return pruned
    }
}
