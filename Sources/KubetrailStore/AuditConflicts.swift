import Foundation
import GRDB
import KubetrailTables

/// Two different audit events under one `auditID` and stage.
///
/// `tp_id` dedupes re-sent copies of an event, which is right for a copy and wrong for a
/// forgery: whoever sends first would own the id and the genuine event would be dropped as a
/// "duplicate". So a row whose id is stored is compared with the stored one on the event's own
/// columns (not on who delivered it, or when); a copy is a duplicate, anything else is a
/// conflict, kept whole here beside the first-stored row for `verify` and `report` to show.
public struct AuditConflict: Sendable {
    public var id: Int64
    public var tpID: String
    public var auditID: String
    public var stage: String
    public var cluster: String
    public var receivedAt: String
    /// Who delivered each version: source type and name (the node, or the API server).
    public var storedSource: String
    public var conflictingSource: String
    /// The conflicting row, as a JSON object of column names to values.
    public var row: String
}

enum AuditContent {
    /// Columns that say how a row arrived rather than what the event was.
    static let deliveryColumns: Set<String> = ["tp_ingest_timestamp", "tp_source_type", "tp_source_name", "tp_source_location"]
    static let contentMask: [Bool] = AuditLogRow.schema.columns.map { !deliveryColumns.contains($0.name) }

    static func hash(_ values: [ColumnValue]) -> [UInt8] {
        RowHash.of(zip(values, contentMask).map { $1 ? $0 : .null })
    }

    static func hash(_ values: [QueryValue]) -> [UInt8] {
        RowHash.of(zip(values, contentMask).map { $1 ? $0 : .null })
    }

    static func json(_ values: [ColumnValue]) -> String {
        var out = "{"
        for (column, value) in zip(AuditLogRow.schema.columns, values) {
            if out.count > 1 { out += "," }
            out += JSONText.string(column.name) + ":"
            switch value {
            case .null: out += "null"
            case .int(let i): out += String(i)
            case .bool(let b): out += b ? "true" : "false"
            case .text(let s): out += JSONText.string(s)
            }
        }
        return out + "}"
    }
}

extension SQLiteTransaction {
    /// Called when an audit row's `tp_id` is already stored: records a conflict when the stored
    /// event differs from this one. True when it did.
    func recordConflict(_ values: [ColumnValue], storedAt rowid: Int64) throws -> Bool {
        let columns = AuditLogRow.schema.columns
        guard case .text(let id) = values[0] else { return false }
        guard
            let stored = try Row.fetchOne(
                db, sql: "SELECT \(SQLiteTransaction.exactColumns(of: .current, alias: "a")) FROM \(AuditStorage.table) a WHERE rowid = ?",
                arguments: [rowid])
        else { return false }
        let storedValues = SQLiteTransaction.exactValues(stored, from: 0)
        if AuditContent.hash(storedValues) == AuditContent.hash(values) { return false }
        func storedText(_ name: String) -> String? {
            guard let i = columns.firstIndex(where: { $0.name == name }), case .text(let s) = storedValues[i] else { return nil }
            return s
        }
        func text(_ name: String) -> String {
            guard let i = columns.firstIndex(where: { $0.name == name }), case .text(let s) = values[i] else { return "" }
            return s
        }
        let storedSource = [storedText("tp_source_type"), storedText("tp_source_name")].compactMap { $0 }.joined(separator: " ")
        try db.execute(
            sql: """
                INSERT INTO kubetrail_audit_conflicts (tp_id, audit_id, stage, cluster, received_at, stored_source, conflicting_source, row_json)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                id, text("audit_id"), text("stage"), text("tp_index"), Timestamp.now.iso8601, storedSource,
                [text("tp_source_type"), text("tp_source_name")].filter { !$0.isEmpty }.joined(separator: " "),
                AuditContent.json(values)
            ])
        return true
    }
}

extension SQLiteStore {
    /// Recorded conflicts (newest first, at most `limit`) and how many there are in all, with
    /// `received_at` in `[from, to)` when given.
    public func auditConflicts(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (conflicts: [AuditConflict], total: Int) {
        var conditions: [String] = []
        var arguments: [String] = []
        if let from { conditions.append("received_at >= ?"); arguments.append(from.iso8601) }
        if let to { conditions.append("received_at < ?"); arguments.append(to.iso8601) }
        let whereSQL = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try pool.read { db in
            // A store made before conflicts were recorded has no table: none recorded.
            guard try db.tableExists("kubetrail_audit_conflicts") else { return ([], 0) }
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM kubetrail_audit_conflicts" + whereSQL, arguments: StatementArguments(arguments)) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM kubetrail_audit_conflicts" + whereSQL + " ORDER BY id DESC LIMIT \(limit)",
                arguments: StatementArguments(arguments))
            return (
                rows.map { r in
                    AuditConflict(
                        id: r["id"], tpID: r["tp_id"], auditID: r["audit_id"] ?? "", stage: r["stage"] ?? "", cluster: r["cluster"] ?? "",
                        receivedAt: r["received_at"], storedSource: r["stored_source"] ?? "", conflictingSource: r["conflicting_source"] ?? "",
                        row: r["row_json"])
                }, total
            )
        }
    }
}
