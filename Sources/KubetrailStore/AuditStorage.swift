import Foundation
import Crypto
import GRDB
import KubetrailTables

/// Where audit rows physically live. `kubetrail_audit_rows` holds the public columns (repeated
/// values as dictionary ids, `AuditLayout`) and `tp_key`, the first 64 bits of SHA-256(tp_id);
/// `kubernetes_audit_logs` is a view of the public columns, so queries, exports and `SELECT *`
/// see the contract and nothing else.
///
/// Why: deduplication used a UNIQUE index on the ~52-byte text `tp_id`. Its keys are random, so
/// once it outgrew the page cache every insert read and rewrote a page of it; at a million rows
/// a bare SQLite insert of these rows ran at 33k rows/s with it and 70k with an index on an
/// 8-byte key instead. Duplicates stay exact: a key only finds candidates, and `tp_id` decides.
enum AuditStorage {
    static let table = AuditLayout.table
    static let view = AuditLogRow.schema.name
    static let keyColumn = "tp_key"
    static var keyIndex: String { view + "__" + keyColumn }

    static func key(_ id: String) -> Int64 { key(bytes: Array(id.utf8)) }

    static func key(bytes: [UInt8]) -> Int64 {
        SHA256.hash(data: bytes).withUnsafeBytes { raw in
            raw.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
        }
    }

    /// Where a store's audit rows are and how its columns read: a file opened read-only is never
    /// upgraded, so it may still have them in `kubernetes_audit_logs` (before `kubetrail_audit_rows`
    /// existed) or in a `kubetrail_audit_rows` of plain columns (before `AuditLayout`), with the
    /// same rowids either way.
    struct Rows {
        var table: String
        /// True for `AuditLayout`'s interned columns; false for the older, wide tables.
        var interned: Bool
        /// True when the rows carry `tp_key` (every layout since `kubetrail_audit_rows`).
        var keyed: Bool { table == AuditStorage.table }
        /// What a store open for writing has (it was upgraded on opening).
        static let current = Rows(table: AuditStorage.table, interned: true)

        /// The SQL of a contract column of the row aliased `alias`.
        func expression(_ column: String, alias: String) -> String {
            interned ? AuditLayout.expression(column, from: alias) : alias + "." + quoteIdentifier(column)
        }
    }

    static func rows(_ db: Database) throws -> Rows {
        guard try AuditStorageUpgrade.kind(db, table) == "table" else { return Rows(table: view, interned: false) }
        return Rows(table: table, interned: try db.columns(in: table).contains { $0.name == AuditLayout.marker })
    }

    /// The physical table of a contract table (only the audit table has one apart).
    static func physicalName(_ schema: TableSchema) -> String {
        schema.name == view ? table : schema.name
    }

    /// The view, recreated when the contract gains a column so its order stays the schema's —
    /// and only then: an open that rewrites the schema needs disk, and a full disk must not
    /// keep the aggregator from starting to answer 503s.
    static func recreateView(_ db: Database) throws {
        let sql = AuditLayout.viewSQL()
        if try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?", arguments: [view]) == sql { return }
        try db.execute(sql: "DROP VIEW IF EXISTS \(quoteIdentifier(view))")
        try db.execute(sql: sql)
    }

    /// Registers `kubetrail_tp_key(CAST(tp_id AS BLOB))` on a connection that moves rows into
    /// the table. It takes the id's bytes: read as text, an id holding a NUL would be cut there
    /// and keyed apart from the same id inserted later.
    static func addKeyFunction(_ db: Database) {
        db.add(
            function: DatabaseFunction("kubetrail_tp_key", argumentCount: 1, pure: true) { values in
                guard let bytes = Data.fromDatabaseValue(values[0]) else { return nil }
                return key(bytes: Array(bytes))
            })
    }
}
