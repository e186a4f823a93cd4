import KubetrailTables

/// `kubetrail_changes`: one entry per row a writer stores or replaces, written in the same
/// transaction as the row, in commit order. It is what a follower (`/v1/tail`, `kubetrail tail`,
/// `kubetrail logs -f`) reads after its cursor, so it sees every committed change once, in
/// order, and can resume where it stopped with no gap and no repeat.
///
/// Why a journal and not a column on the four tables: a column would show in the contract's
/// `SELECT *`, and neither a row id (reused in SQLite once the newest row is deleted; kept by an
/// upsert) nor a time (assigned before commit, so a slower transaction lands behind a reader's
/// position) says "committed after this point". SQLite's single writer makes an autoincrement
/// sequence commit-ordered; PostgreSQL's several writers need the writing transaction's id and
/// the snapshot horizon (`PostgresTail`).
///
/// A replaced row's older entry is removed as the new one is written, so a follower meets the
/// row once, at its latest change. Entries outlive their row only until the next prune
/// (`StoreTransaction.pruneChanges`); a follower joins entries to rows and skips the dangling.
public enum ChangeJournal {
    static let table = "kubetrail_changes"
    /// A random id made with the journal: a cursor from another store (or a restored copy whose
    /// sequence restarted) is refused rather than read as a position here.
    static let storeIDName = "kubetrail.store_id"
    /// The newest entry pruned, per table: a cursor before it may have missed entries.
    static func prunedName(_ table: Int) -> String { "kubetrail.changes_pruned.\(table)" }

    /// How long entries are kept: how long a follower may be away and still resume by cursor.
    public static let keptSeconds: Int64 = 24 * 3600

    /// The journal's number for a contract table (stable: it is stored and in cursors).
    public static func number(_ schema: TableSchema) -> Int? {
        switch schema.name {
        case AuditLogRow.schema.name: return 1
        case PodLogRow.schema.name: return 2
        case EventRow.schema.name: return 3
        case ResourceRow.schema.name: return 4
        default: return nil
        }
    }

    /// The tables a follower may follow.
    public static var tables: [TableSchema] { KubernetesTables.all.filter { number($0) != nil } }
}
