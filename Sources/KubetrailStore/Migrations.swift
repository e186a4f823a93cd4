import GRDB
import KubetrailTables

/// Versioned schema changes. v1 creates the four tables; `reconcile` then adds any column or
/// index the current contract has that an older database lacks, so adding a column to a table
/// schema needs no hand-written migration and an old file keeps working.
enum Migrations {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-tables") { db in
            for schema in KubernetesTables.all {
                try db.execute(sql: schema.createTableSQL())
            }
        }
        m.registerMigration("v2-ingest-batches") { db in
            // Batches the aggregator committed: a re-sent batch is acknowledged, not stored again.
            try db.execute(
                sql: """
                    CREATE TABLE kubetrail_ingest_batches (
                      batch_id TEXT PRIMARY KEY NOT NULL,
                      node TEXT,
                      committed_at TEXT NOT NULL,
                      records INTEGER NOT NULL
                    ) WITHOUT ROWID
                    """)
        }
        m.registerMigration("v3-cursors") { db in
            // Where each API log stream was read up to, committed with the rows it produced, so a
            // restarted collector resumes without losing or repeating a line.
            try db.execute(
                sql: """
                    CREATE TABLE kubetrail_cursors (
                      name TEXT PRIMARY KEY NOT NULL,
                      value TEXT NOT NULL,
                      updated_at TEXT NOT NULL
                    ) WITHOUT ROWID
                    """)
        }
        m.registerMigration("v4-audit-chain") { db in
            // The tamper-evident trail (docs/integrity.md): every audit row committed, in commit
            // order per cluster, with the SHA-256 of its values and the running chain hash; and
            // the signed digests of that chain.
            try db.execute(
                sql: """
                    CREATE TABLE kubetrail_audit_chain (
                      seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, even after retention prunes
                      cluster TEXT NOT NULL,
                      row_rowid INTEGER NOT NULL,              -- the audit row: rowids only grow, so this index appends
                      tp_id TEXT NOT NULL,
                      tp_timestamp TEXT NOT NULL,
                      row_hash BLOB NOT NULL,
                      chain_hash BLOB NOT NULL
                    );
                    CREATE INDEX kubetrail_audit_chain_cluster ON kubetrail_audit_chain (cluster, seq);
                    CREATE INDEX kubetrail_audit_chain_row ON kubetrail_audit_chain (row_rowid);
                    CREATE TABLE kubetrail_audit_digests (
                      cluster TEXT NOT NULL,
                      number INTEGER NOT NULL,
                      created_at TEXT NOT NULL,
                      last_seq INTEGER,
                      document TEXT NOT NULL,
                      PRIMARY KEY (cluster, number)
                    ) WITHOUT ROWID;
                    """)
            // Rows stored before the chain existed are its start, in rowid order.
            let existing = try Row.fetchCursor(db, sql: "SELECT rowid AS kubetrail_rowid, * FROM kubernetes_audit_logs ORDER BY rowid")
            let chain = AuditChain(db)
            while let row = try existing.next() {
                try chain.append(
                    rowHash: RowHash.of(AuditChain.values(of: row)), rowid: row["kubetrail_rowid"], id: row["tp_id"],
                    timestamp: row["tp_timestamp"], cluster: row["tp_index"] ?? "default")
            }
        }
        m.registerMigration("v5-audit-conflicts") { db in
            // A second, different event under a stored auditID and stage (a forgery sent first,
            // or the genuine event after one): kept here, never silently dropped.
            try db.execute(
                sql: """
                    CREATE TABLE kubetrail_audit_conflicts (
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      tp_id TEXT NOT NULL,
                      audit_id TEXT,
                      stage TEXT,
                      cluster TEXT,
                      received_at TEXT NOT NULL,
                      stored_source TEXT,
                      conflicting_source TEXT,
                      row_json TEXT NOT NULL
                    );
                    CREATE INDEX kubetrail_audit_conflicts_tp_id ON kubetrail_audit_conflicts (tp_id);
                    """)
        }
        m.registerMigration("v6-detections") { db in
            // The findings of continuous detection (a fresh file has it from v1).
            try db.execute(sql: DetectionRow.schema.createTableSQL())
        }
        m.registerMigration("v7-change-journal") { db in
            // What followers read (ChangeJournal); rows stored before it are found by time.
            try db.execute(sql: SQLiteChangeJournal.createSQL)
        }
        return m
    }

    static func reconcile(_ db: Database) throws {
        for schema in KubernetesTables.all {
            let table = AuditStorage.physicalName(schema)
            let existing = Set(try db.columns(in: table).map(\.name))
            let audit = table != schema.name
            for column in schema.columns {
                let name = audit ? AuditLayout.physicalName(column.name) : column.name
                // A column this version interns but the file holds plain would read as NULL.
                if name != column.name, existing.contains(column.name) {
                    throw StoreError.sql(
                        "\(table) holds \(column.name) as plain values where this version expects dictionary ids (\(name)): the file is from a layout this version cannot upgrade"
                    )
                }
                guard !existing.contains(name) else { continue }
                let declaration = name == column.name ? column.type.sqliteDeclaration : "INTEGER"
                // SQLite cannot add NOT NULL columns without a default; the contract enforces it on insert.
                try db.execute(sql: "ALTER TABLE \(quoteIdentifier(table)) ADD COLUMN \(quoteIdentifier(name)) \(declaration)")
            }
            var wanted = schema.indexNames
            if audit {
                try AuditStorage.recreateView(db)
                wanted.append(AuditStorage.keyIndex)
                try db.execute(sql: "CREATE INDEX IF NOT EXISTS \(quoteIdentifier(AuditStorage.keyIndex)) ON \(table) (\(AuditStorage.keyColumn))")
            }
            // An index the contract no longer lists (reordered or dropped) costs every insert:
            // only kubetrail's own, named table__column__…, are ours to drop.
            let prefix = schema.name + "__"
            for index in try db.indexes(on: table) where index.name.hasPrefix(prefix) && !wanted.contains(index.name) {
                try db.execute(sql: "DROP INDEX \(quoteIdentifier(index.name))")
            }
            for sql in schema.createIndexSQL(on: table) { try db.execute(sql: sql) }
        }
    }
}
