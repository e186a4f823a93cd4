import GRDB
import KubetrailTables

/// Moves a database written before `kubetrail_audit_rows` existed (its audit rows in a table
/// named `kubernetes_audit_logs`) into the new table, in place, one committed chunk at a time:
/// an upgrade that is interrupted carries on from where it stopped when the store is next
/// opened for writing. Rowids are kept, because the audit chain points at them.
enum AuditStorageUpgrade {
    static let legacy = "kubetrail_audit_legacy"
    static let rowsPerChunk = 50_000

    /// Returns how many rows it moved; `maxChunks` stops early (to test an interrupted upgrade).
    @discardableResult
    static func run(_ pool: DatabasePool, rowsPerChunk: Int = rowsPerChunk, maxChunks: Int = .max) throws -> Int {
        try pool.write { db in
            guard try kind(db, AuditStorage.view) == "table" else { return }
            // The old table's indexes carry the names the new table's will use.
            for index in try db.indexes(on: AuditStorage.view) where index.name.hasPrefix(AuditStorage.view + "__") {
                try db.execute(sql: "DROP INDEX \(quoteIdentifier(index.name))")
            }
            try db.execute(sql: "ALTER TABLE \(quoteIdentifier(AuditStorage.view)) RENAME TO \(legacy)")
            try db.execute(sql: AuditStorage.createTableSQL())
        }
        var moved = 0
        var chunks = 0
        while chunks < maxChunks, try pool.read({ db in try kind(db, legacy) }) == "table" {
            moved += try pool.write { db -> Int in
                AuditStorage.addKeyFunction(db)
                let present = Set(try db.columns(in: legacy).map(\.name))
                // A column the old file never gained stays NULL, as reconcile would have left it.
                let names = AuditLogRow.schema.columns.map(\.name).filter(present.contains).map(quoteIdentifier)
                try db.execute(sql: """
                    INSERT INTO \(AuditStorage.table) (rowid, \(names.joined(separator: ", ")), \(AuditStorage.keyColumn))
                    SELECT rowid, \(names.joined(separator: ", ")), kubetrail_tp_key(CAST(tp_id AS BLOB)) FROM \(legacy)
                    WHERE rowid > coalesce((SELECT max(rowid) FROM \(AuditStorage.table)), (SELECT min(rowid) - 1 FROM \(legacy)))
                    ORDER BY rowid LIMIT \(rowsPerChunk)
                    """)
                let n = db.changesCount
                if n == 0 {
                    try db.execute(sql: "DROP TABLE \(legacy)")
                    try AuditStorage.recreateView(db)
                }
                return n
            }
            chunks += 1
        }
        return moved
    }

    /// "table", "view" or nil.
    static func kind(_ db: Database, _ name: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT type FROM sqlite_master WHERE name = ?", arguments: [name])
    }
}
