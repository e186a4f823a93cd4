import GRDB
import KubetrailTables

/// Moves the audit rows of a database written by an earlier version into `AuditLayout`'s table,
/// in place, one committed chunk at a time: an upgrade that is interrupted carries on from where
/// it stopped when the store is next opened for writing. Rowids are kept, because the audit
/// chain points at them.
///
/// Two earlier layouts are upgraded the same way: the rows in a table named
/// `kubernetes_audit_logs` (before `kubetrail_audit_rows` existed), and a `kubetrail_audit_rows`
/// of plain columns behind the view (before values were interned). Either is renamed to
/// `kubetrail_audit_legacy` first, and its indexes dropped, since the new table's carry their names.
enum AuditStorageUpgrade {
    static let legacy = "kubetrail_audit_legacy"
    static let rowsPerChunk = 50_000

    /// Returns how many rows it moved; `maxChunks` stops early (to test an interrupted upgrade).
    @discardableResult
    static func run(_ pool: DatabasePool, rowsPerChunk: Int = rowsPerChunk, maxChunks: Int = .max) throws -> Int {
        try pool.write { db in
            for sql in ValueDictionary.createSQL() { try db.execute(sql: sql) }
            let old: String
            if try kind(db, AuditStorage.view) == "table" {
                old = AuditStorage.view
            } else if try kind(db, AuditStorage.table) == "table", try !AuditStorage.rows(db).interned {
                try db.execute(sql: "DROP VIEW IF EXISTS \(quoteIdentifier(AuditStorage.view))")
                if try kind(db, legacy) == "table" {
                    // The previous version's own upgrade was interrupted: the legacy table still
                    // holds every row, the plain table only a first part of them.
                    try db.execute(sql: "DROP TABLE \(AuditStorage.table)")
                    try db.execute(sql: AuditLayout.createTableSQL())
                    return
                }
                old = AuditStorage.table
            } else {
                return
            }
            for index in try db.indexes(on: old) where index.name.hasPrefix(AuditStorage.view + "__") {
                try db.execute(sql: "DROP INDEX \(quoteIdentifier(index.name))")
            }
            try db.execute(sql: "ALTER TABLE \(quoteIdentifier(old)) RENAME TO \(legacy)")
            try db.execute(sql: AuditLayout.createTableSQL())
        }
        var moved = 0
        var chunks = 0
        while chunks < maxChunks, try pool.read({ db in try kind(db, legacy) }) == "table" {
            moved += try pool.write { db -> Int in
                let n = try moveChunk(db, rows: rowsPerChunk)
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

    /// Copies the next `rows` rows after the last one moved: their repeated values into the
    /// dictionaries first, then the rows with the values' ids.
    private static func moveChunk(_ db: Database, rows: Int) throws -> Int {
        AuditStorage.addKeyFunction(db)
        let present = Set(try db.columns(in: legacy).map(\.name))
        let after = try Int64.fetchOne(db, sql: "SELECT coalesce((SELECT max(rowid) FROM \(AuditStorage.table)), (SELECT min(rowid) - 1 FROM \(legacy)))") ?? 0
        let chunk = "(SELECT rowid AS kubetrail_rowid, * FROM \(legacy) WHERE rowid > \(after) ORDER BY rowid LIMIT \(rows))"
        // A column the old file never gained stays NULL, as reconcile would have left it.
        let columns = AuditLayout.columns.filter { present.contains($0.name) }
        let interned = columns.filter { AuditLayout.interned.contains($0.name) }
        for c in interned {
            let t = ValueDictionary.table(for: c.type)
            try db.execute(
                sql: """
                    INSERT INTO \(t) (hash, value)
                    SELECT DISTINCT kubetrail_tp_key(CAST(v AS BLOB)), v FROM (SELECT \(quoteIdentifier(c.name)) AS v FROM \(chunk) WHERE v IS NOT NULL) AS x
                    WHERE NOT EXISTS (SELECT 1 FROM \(t) WHERE hash = kubetrail_tp_key(CAST(x.v AS BLOB)) AND value = x.v)
                    """)
        }
        let targets = columns.map { quoteIdentifier(AuditLayout.physicalName($0.name)) }
        let sources = columns.map { c -> String in
            let q = "l." + quoteIdentifier(c.name)
            guard AuditLayout.interned.contains(c.name) else { return q }
            return "(SELECT id FROM \(ValueDictionary.table(for: c.type)) WHERE hash = kubetrail_tp_key(CAST(\(q) AS BLOB)) AND value = \(q))"
        }
        try db.execute(
            sql: """
                INSERT INTO \(AuditStorage.table) (rowid, \(targets.joined(separator: ", ")), \(AuditStorage.keyColumn))
                SELECT l.kubetrail_rowid, \(sources.joined(separator: ", ")), kubetrail_tp_key(CAST(l.tp_id AS BLOB)) FROM \(chunk) AS l
                """)
        let moved = db.changesCount
        // Each value counts the rows holding it, as the writer keeps it (ValueDictionary).
        for c in interned {
            let t = ValueDictionary.table(for: c.type), ref = quoteIdentifier(AuditLayout.physicalName(c.name))
            try db.execute(
                sql: """
                    WITH held AS (SELECT \(ref) AS id, count(*) AS n FROM \(AuditStorage.table) WHERE rowid > \(after) AND \(ref) IS NOT NULL GROUP BY \(ref))
                    UPDATE \(t) SET refs = refs + (SELECT n FROM held WHERE held.id = \(t).id) WHERE id IN (SELECT id FROM held)
                    """)
        }
        return moved
    }

    /// "table", "view" or nil.
    static func kind(_ db: Database, _ name: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT type FROM sqlite_master WHERE name = ?", arguments: [name])
    }
}
