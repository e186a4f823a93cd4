import Foundation
import GRDB
import GRDBSQLite
import KubetrailTables

/// SQLite's `StoreTransaction`: the rows a transaction inserts and reads, in a write
/// transaction or (for `Store.read`) a read-only one.
///
/// The hot path binds through the C API on GRDB's cached statements: GRDB's argument arrays
/// cost about 40 % of the insert rate here (swift-stack.md §6b), and imports are insert-bound.
public final class SQLiteTransaction: StoreTransaction {
    public typealias Outcome = InsertOutcome

    let db: Database
    /// Prepared once per transaction; keyed by table and purpose, because hashing the
    /// statement's 1.5 KB of SQL text on every row showed up in profiles.
    private var statements: [StatementKey: Statement] = [:]

    private struct StatementKey: Hashable {
        var table: String
        var purpose: Int
    }

    private lazy var chain = AuditChain(db, known: heads)
    let heads: ChainHeads?
    /// Where this transaction took each audit chain (to publish once it commits).
    var chainUpdates: [String: ChainHeads.Head] { chain.heads }

    /// Dictionary ids committed before this transaction (none for a reader), and those it
    /// found or created, which the store adds to them once it commits.
    let valueIDs: InternedValueIDs?
    private(set) var newValueIDs: [InternedValueIDs.Key: Int64] = [:]
    /// The dictionaries' generation this transaction read (nil before it interned anything).
    private(set) var valuesGeneration: Int64?
    /// Rows gained per value in this transaction, written by `finishValues`.
    private var valueRefs: [ValueRef: Int] = [:]

    init(_ db: Database, heads: ChainHeads? = nil, valueIDs: InternedValueIDs? = nil) {
        self.db = db
        self.heads = heads
        self.valueIDs = valueIDs
    }

    /// When this transaction's journal entries were written (`ChangeJournal`), in Unix seconds.
    lazy var journalTime = Int64(Date().timeIntervalSince1970)
    /// The next journal sequence number (nil until the transaction journals its first row).
    var journalNext: Int64?

    func journalStatement(_ purpose: Int, _ sql: @autoclosure () -> String) throws -> Statement {
        try statement("kubetrail_changes", purpose, sql())
    }

    private func statement(_ table: String, _ purpose: Int, _ sql: @autoclosure () -> String) throws -> Statement {
        let key = StatementKey(table: table, purpose: purpose)
        if let s = statements[key] { return s }
        let s = try db.cachedStatement(sql: sql())
        statements[key] = s
        return s
    }

    public func insert<R: TableRow>(_ prepared: PreparedRow<R>) throws -> Outcome {
        let schema = R.schema
        let values = prepared.values
        if schema.name == AuditStorage.view { return try insertAudit(prepared) }
        switch schema.conflict {
        case .keepExisting:
            let statement = try statement(schema.name, 0, SQLCache.insertIgnoring(schema))
            try execute(statement, values)
            guard sqlite3_changes(db.sqliteConnection) > 0 else { return .duplicate }
            try journal(schema, rowid: sqlite3_last_insert_rowid(db.sqliteConnection), replaced: false)
            return .inserted
        case .replaceWhileStored(let column):
            try execute(try statement(schema.name, 0, SQLCache.insertIgnoring(schema)), values)
            if sqlite3_changes(db.sqliteConnection) > 0 {
                try journal(schema, rowid: sqlite3_last_insert_rowid(db.sqliteConnection), replaced: false)
                return .inserted
            }
            // Only a complete row may replace a stored partial one.
            guard let index = schema.columns.firstIndex(where: { $0.name == column }), values[index] == .bool(false) else { return .duplicate }
            try execute(try statement(schema.name, 3, SQLCache.completing(schema, flag: column)), values)
            guard sqlite3_changes(db.sqliteConnection) > 0 else { return .duplicate }
            let lookup = try statement(schema.name, 4, "SELECT rowid FROM \(quoteIdentifier(schema.name)) WHERE tp_id = ?")
            if let rowid = try Int64.fetchOne(lookup, arguments: [prepared.id]) { try journal(schema, rowid: rowid, replaced: true) }
            return .updated
        case .replaceIfNewer(let column):
            guard let index = schema.columns.firstIndex(where: { $0.name == column }) else {
                preconditionFailure("conflict column \(column) not in \(schema.name)")
            }
            let lookup = try statement(
                schema.name, 1, "SELECT \(quoteIdentifier(column)), rowid FROM \(quoteIdentifier(schema.name)) WHERE tp_id = ?")
            let existing = try Row.fetchOne(lookup, arguments: [prepared.id])
            guard let found = existing else {
                let statement = try statement(schema.name, 0, SQLCache.insertIgnoring(schema))
                try execute(statement, values)
                guard sqlite3_changes(db.sqliteConnection) > 0 else { return .duplicate }
                try journal(schema, rowid: sqlite3_last_insert_rowid(db.sqliteConnection), replaced: false)
                return .inserted
            }
            let stored: String? = found[0]
            if case .text(let incoming) = values[index], let stored, !ResourceVersion.isNewer(incoming, than: stored) {
                return .duplicate
            }
            let statement = try statement(schema.name, 2, SQLCache.upsert(schema))
            try execute(statement, values)
            try journal(schema, rowid: found[1], replaced: true)
            return .updated
        }
    }

    /// An audit row is stored once per `tp_id`: its key finds the candidates, their `tp_id`
    /// decides (two ids sharing a key are both stored). A second, different event under a
    /// stored id is a conflict, kept apart; the row committed is chained.
    private func insertAudit<R: TableRow>(_ prepared: PreparedRow<R>) throws -> Outcome {
        guard let key = prepared.key, let rowHash = prepared.rowHash else { preconditionFailure("audit rows are prepared with their key and hash") }
        let lookup = try statement(AuditStorage.table, 1, "SELECT rowid FROM \(AuditStorage.table) WHERE \(AuditStorage.keyColumn) = ? AND tp_id = ?")
        let h = lookup.sqliteStatement
        sqlite3_reset(h)
        sqlite3_bind_int64(h, 1, key)
        bindText(h, 2, prepared.id)
        let rc = sqlite3_step(h)
        let stored: Int64? = rc == SQLITE_ROW ? sqlite3_column_int64(h, 0) : nil
        sqlite3_reset(h)
        guard rc == SQLITE_ROW || rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
        if let stored { return try recordConflict(prepared.values, storedAt: stored) ? .conflict : .duplicate }
        try execute(try statement(AuditStorage.table, 0, AuditLayout.insertSQL()), prepared.values, key: key, interned: AuditLayout.internedType)
        let rowid = sqlite3_last_insert_rowid(db.sqliteConnection)
        try journal(R.schema, rowid: rowid, replaced: false)
        try chain.append(
            rowHash: rowHash, rowid: rowid,
            id: prepared.id, timestamp: prepared.timestamp, cluster: prepared.cluster)
        return .inserted
    }

    /// Records a batch as committed with this transaction; false when it already was.
    public func recordBatch(id: String, node: String, records: Int) throws -> Bool {
        let known = try statement("kubetrail_ingest_batches", 0, "SELECT 1 FROM kubetrail_ingest_batches WHERE batch_id = ?")
        if try Row.fetchOne(known, arguments: [id]) != nil { return false }
        let insert = try statement(
            "kubetrail_ingest_batches", 1, "INSERT INTO kubetrail_ingest_batches (batch_id, node, committed_at, records) VALUES (?, ?, ?, ?)")
        try insert.execute(arguments: [id, node, Timestamp.now.iso8601, records])
        return true
    }

    /// Forgets batch ids committed before `cutoff`; returns how many.
    @discardableResult
    public func forgetBatches(committedBefore cutoff: Timestamp) throws -> Int {
        try db.execute(sql: "DELETE FROM kubetrail_ingest_batches WHERE committed_at < ?", arguments: [cutoff.iso8601])
        return db.changesCount
    }

    /// True when a batch with this id is already committed.
    public func hasBatch(id: String) throws -> Bool {
        let known = try statement("kubetrail_ingest_batches", 0, "SELECT 1 FROM kubetrail_ingest_batches WHERE batch_id = ?")
        return try Row.fetchOne(known, arguments: [id]) != nil
    }

    /// The saved position of a stream (see `setCursor`), nil when none.
    public func cursor(_ name: String) throws -> String? {
        let select = try statement("kubetrail_cursors", 0, "SELECT value FROM kubetrail_cursors WHERE name = ?")
        return try String.fetchOne(select, arguments: [name])
    }

    /// Saves a stream's position in this transaction, with the rows read up to it.
    public func setCursor(_ name: String, _ value: String) throws {
        let upsert = try statement(
            "kubetrail_cursors", 1,
            """
            INSERT INTO kubetrail_cursors (name, value, updated_at) VALUES (?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
            """)
        try upsert.execute(arguments: [name, value, Timestamp.now.iso8601])
    }

    /// Deletes up to `limit` rows whose time column is before `cutoff`; returns how many.
    public func deleteOlder(in schema: TableSchema, than cutoff: Timestamp, limit: Int) throws -> Int {
        let t = quoteIdentifier(AuditStorage.physicalName(schema)), c = quoteIdentifier(schema.timeColumn)
        let rowids = try Int64.fetchAll(db, sql: "SELECT rowid FROM \(t) WHERE \(c) < ? LIMIT ?", arguments: [cutoff.iso8601, limit])
        if schema.name == AuditStorage.view { return try deleteAuditRows(rowids: rowids) }
        return try deleteRows(schema, rowids: rowids)
    }

    /// Deletes rows of a table other than the audit table, with their journal entries.
    private func deleteRows(_ schema: TableSchema, rowids: [Int64]) throws -> Int {
        guard !rowids.isEmpty else { return 0 }
        let list = rowids.map(String.init).joined(separator: ",")
        try forgetChanges(schema, rowids: list)
        try db.execute(sql: "DELETE FROM \(quoteIdentifier(schema.name)) WHERE rowid IN (\(list))")
        return db.changesCount
    }

    /// The ids of `kubernetes_resources` rows of one kind in one cluster (what a relist compares
    /// against to find objects that vanished) — only those in `namespaces` and cluster-scoped
    /// ones when given, so a relist of some namespaces leaves the others' rows alone.
    public func resourceIDs(kind: String, cluster: String?, namespaces: [String]?) throws -> Set<String> {
        var sql = "SELECT tp_id FROM kubernetes_resources WHERE resource_type = ? AND cluster_name IS ?"
        var arguments: [(any DatabaseValueConvertible)?] = [kind, cluster]
        if let namespaces {
            sql += " AND (namespace IS NULL OR namespace = '' OR namespace IN (\(namespaces.map { _ in "?" }.joined(separator: ","))))"
            arguments += namespaces.map { $0 as (any DatabaseValueConvertible)? }
        }
        let rows = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments))
        return Set(rows.compactMap { $0["tp_id"] as String? })
    }

    /// Removes a row (a deleted resource).
    @discardableResult
    public func delete(table schema: TableSchema, id: String) throws -> Bool {
        if schema.name == AuditStorage.view {
            return try deleteAuditRows(rowids: Int64.fetchAll(db, sql: "SELECT rowid FROM \(AuditStorage.table) WHERE tp_id = ?", arguments: [id])) > 0
        }
        return try deleteRows(schema, rowids: Int64.fetchAll(db, sql: "SELECT rowid FROM \(quoteIdentifier(schema.name)) WHERE tp_id = ?", arguments: [id])) > 0
    }

    /// Binds `values` in order (and `key` after them, for the audit table) and steps once. A
    /// column with a type in `interned` binds its value's dictionary id.
    private func execute(_ statement: Statement, _ values: [ColumnValue], key: Int64? = nil, interned: [ColumnType?]? = nil) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        if let key { sqlite3_bind_int64(h, Int32(values.count + 1), key) }
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            if let type = interned?[i] {
                switch value {
                case .null: rc = sqlite3_bind_null(h, index)
                case .text(let s): rc = sqlite3_bind_int64(h, index, try valueID(s, type))
                case .int, .bool: throw StoreError.sql("column \(AuditLayout.columns[i].name) holds text, not \(value)")
                }
                guard rc == SQLITE_OK else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                }
                continue
            }
            switch value {
            case .null: rc = sqlite3_bind_null(h, index)
            case .int(let v): rc = sqlite3_bind_int64(h, index, v)
            case .bool(let b): rc = sqlite3_bind_int64(h, index, b ? 1 : 0)
            case .text(let s): rc = bindText(h, index, s)
            }
            guard rc == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
        }
        let rc = sqlite3_step(h)
        sqlite3_reset(h)
        guard rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}

extension SQLiteTransaction {
    /// The id of `value` in the dictionary of `type`, added to it when new; counts one more row
    /// holding it (written by `finishValues`).
    func valueID(_ value: String, _ type: ColumnType) throws -> Int64 {
        let table = ValueDictionary.table(for: type)
        let key = InternedValueIDs.Key(table: table, value: value)
        if valuesGeneration == nil {
            let g = try Int64.fetchOne(db, sql: "SELECT generation FROM \(ValueDictionary.generationTable)") ?? 0
            valuesGeneration = g
            valueIDs?.check(generation: g)
        }
        let id: Int64
        if let known = newValueIDs[key] ?? valueIDs?.id(key) {
            id = known
        } else {
            id = try findOrAdd(value, in: table)
            newValueIDs[key] = id
        }
        valueRefs[ValueRef(table: table, id: id), default: 0] += 1
        return id
    }

    private func findOrAdd(_ value: String, in table: String) throws -> Int64 {
        let hash = ValueDictionary.hash(value)
        let find = try statement(table, 0, "SELECT id FROM \(table) WHERE hash = ? AND value = ?").sqliteStatement
        sqlite3_reset(find)
        sqlite3_bind_int64(find, 1, hash)
        bindText(find, 2, value)
        var rc = sqlite3_step(find)
        var id = rc == SQLITE_ROW ? sqlite3_column_int64(find, 0) : nil
        sqlite3_reset(find)
        if id == nil, rc == SQLITE_DONE {
            let add = try statement(table, 1, "INSERT INTO \(table) (hash, value) VALUES (?, ?)").sqliteStatement
            sqlite3_reset(add)
            sqlite3_bind_int64(add, 1, hash)
            bindText(add, 2, value)
            rc = sqlite3_step(add)
            sqlite3_reset(add)
            if rc == SQLITE_DONE { id = sqlite3_last_insert_rowid(db.sqliteConnection) }
        }
        guard let id else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
        return id
    }

    /// Writes the reference counts this transaction changed: once per value, not once per row.
    func finishValues() throws {
        for (ref, n) in valueRefs where n != 0 {
            try statement(ref.table, 2, "UPDATE \(ref.table) SET refs = refs + ? WHERE id = ?").execute(arguments: [n, ref.id])
        }
        valueRefs.removeAll()
    }

    /// Deletes audit rows and lets go of the values only they held: counts drop by the rows
    /// removed, values left with none go, and the generation moves so no writer reuses their ids.
    func deleteAuditRows(rowids: [Int64]) throws -> Int {
        guard !rowids.isEmpty else { return 0 }
        let list = rowids.map(String.init).joined(separator: ",")
        let refColumns = AuditLayout.columns.filter { AuditLayout.interned.contains($0.name) }
        var released: [ValueRef: Int] = [:]
        let refs = try Row.fetchCursor(
            db,
            sql:
                "SELECT \(refColumns.map { quoteIdentifier(AuditLayout.physicalName($0.name)) }.joined(separator: ", ")) FROM \(AuditStorage.table) WHERE rowid IN (\(list))"
        )
        while let r = try refs.next() {
            for (i, c) in refColumns.enumerated() {
                if let id: Int64 = r[i] { released[ValueRef(table: ValueDictionary.table(for: c.type), id: id), default: 0] += 1 }
            }
        }
        try forgetChanges(AuditLogRow.schema, rowids: list)
        try db.execute(sql: "DELETE FROM \(AuditStorage.table) WHERE rowid IN (\(list))")
        let deleted = db.changesCount
        var removed = 0
        for (ref, n) in released {
            try db.execute(sql: "UPDATE \(ref.table) SET refs = refs - ? WHERE id = ?", arguments: [n, ref.id])
            try db.execute(sql: "DELETE FROM \(ref.table) WHERE id = ? AND refs <= 0", arguments: [ref.id])
            removed += db.changesCount
        }
        if removed > 0 {
            try db.execute(sql: "UPDATE \(ValueDictionary.generationTable) SET generation = generation + 1")
        }
        return deleted
    }
}

struct ValueRef: Hashable {
    var table: String
    var id: Int64
}

/// Binds text by its length, so a NUL inside (an auditID is the sender's text) stays in the
/// value; an empty string binds as empty text, not NULL.
@discardableResult
func bindText(_ h: OpaquePointer?, _ index: Int32, _ s: String) -> Int32 {
    var s = s
    return s.withUTF8 { p in
        p.withMemoryRebound(to: CChar.self) { c in
            guard let base = c.baseAddress else { return sqlite3_bind_text(h, index, "", 0, SQLITE_TRANSIENT_SWIFT) }
            return sqlite3_bind_text(h, index, base, Int32(c.count), SQLITE_TRANSIENT_SWIFT)
        }
    }
}

/// `SQLITE_TRANSIENT` is a cast macro Swift cannot import.
let SQLITE_TRANSIENT_SWIFT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The statements' text, built once per table.
enum SQLCache {
    private static let ignoring = Dictionary(uniqueKeysWithValues: KubernetesTables.all.map { ($0.name, insert($0, onConflict: "DO NOTHING")) })
    private static let upserting = Dictionary(uniqueKeysWithValues: KubernetesTables.all.map { ($0.name, insert($0, onConflict: updateAll($0))) })

    static func insertIgnoring(_ schema: TableSchema) -> String { ignoring[schema.name] ?? insert(schema, onConflict: "DO NOTHING") }
    static func upsert(_ schema: TableSchema) -> String { upserting[schema.name] ?? insert(schema, onConflict: updateAll(schema)) }

    static func insert(_ schema: TableSchema, onConflict action: String) -> String {
        let cols = schema.columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
        let params = Array(repeating: "?", count: schema.columns.count).joined(separator: ", ")
        // The audit table has no unique constraint to conflict on (SQLiteTransaction.insertAudit).
        if schema.name == AuditStorage.view { return AuditLayout.insertSQL() }
        return "INSERT INTO \(quoteIdentifier(schema.name)) (\(cols)) VALUES (\(params)) ON CONFLICT(tp_id) \(action)"
    }

    /// `UPDATE … SET c2 = ?2, … WHERE tp_id = ?1 AND flag = 1`: binds like the insert (tp_id is column 1).
    static func completing(_ schema: TableSchema, flag: String) -> String {
        precondition(schema.columns.first?.name == "tp_id", "tp_id must be the first column")
        let sets = schema.columns.enumerated().filter { $0.element.name != "tp_id" }
            .map { "\(quoteIdentifier($0.element.name)) = ?\($0.offset + 1)" }.joined(separator: ", ")
        return "UPDATE \(quoteIdentifier(schema.name)) SET \(sets) WHERE tp_id = ?1 AND \(quoteIdentifier(flag)) = 1"
    }

    static func updateAll(_ schema: TableSchema) -> String {
        "DO UPDATE SET "
            + schema.columns.filter { $0.name != "tp_id" }
            .map { "\(quoteIdentifier($0.name)) = excluded.\(quoteIdentifier($0.name))" }.joined(separator: ", ")
    }
}

/// resourceVersion is opaque, but every API server in practice issues increasing integers.
enum ResourceVersion {
    static func isNewer(_ incoming: String, than stored: String) -> Bool {
        if let a = UInt64(incoming), let b = UInt64(stored) { return a > b }
        return incoming != stored
    }
}
