import KubetrailCore

/// Column types of the table contract (tables.md); each store maps them to its own SQL types.
public enum ColumnType: String, Sendable {
    case text, int, bool, timestamp, date, json, list
}

public struct Column: Sendable, Equatable {
    public var name: String
    public var type: ColumnType
    public var description: String
    public var notNull: Bool

    public init(_ name: String, _ type: ColumnType, _ description: String, notNull: Bool = false) {
        self.name = name
        self.type = type
        self.description = description
        self.notNull = notNull
    }
}

/// What a repeated `tp_id` does: audit and log lines are immutable, events and resources evolve.
public enum ConflictPolicy: Sendable, Equatable {
    case keepExisting
    /// Replace the stored row when the new one has a greater (numeric) value in this column.
    case replaceIfNewer(column: String)
    /// Replace the stored row only while its boolean `column` is true and the new one's is false.
    case replaceWhileStored(column: String)
}

public struct TableSchema: Sendable {
    public var name: String
    public var description: String
    public var columns: [Column]
    /// The column people filter time on (and `tables` reports the range of).
    public var timeColumn: String
    /// Secondary indexes, each a list of columns, chosen for the README's queries.
    public var indexes: [[String]]
    public var conflict: ConflictPolicy

    public init(
        name: String, description: String, columns: [Column], timeColumn: String,
        indexes: [[String]], conflict: ConflictPolicy
    ) {
        self.name = name
        self.description = description
        self.columns = columns
        self.timeColumn = timeColumn
        self.indexes = indexes
        self.conflict = conflict
    }

    public func column(named name: String) -> Column? { columns.first { $0.name == name } }
}

/// A value bound to one column; timestamps, JSON and lists arrive already as text.
public enum ColumnValue: Sendable, Equatable {
    case null
    case text(String)
    case int(Int64)
    case bool(Bool)

    @inlinable public static func text(_ s: String?) -> ColumnValue { s.map { .text($0) } ?? .null }
    @inlinable public static func int(_ v: Int64?) -> ColumnValue { v.map { .int($0) } ?? .null }
    @inlinable public static func timestamp(_ t: Timestamp?) -> ColumnValue { t.map { .text($0.iso8601) } ?? .null }
    @inlinable public static func list(_ l: [String]?) -> ColumnValue { l.map { .text(JSONText.array($0)) } ?? .null }
    /// Empty lists are stored as NULL to keep the searchable `tp_*` columns small.
    @inlinable public static func nonEmptyList(_ l: [String]) -> ColumnValue { l.isEmpty ? .null : .text(JSONText.array(l)) }
}

/// A row of one of the four tables; `values` follow `schema.columns` exactly.
public protocol TableRow: Sendable {
    static var schema: TableSchema { get }
    var common: CommonFields { get }
    var values: [ColumnValue] { get }
}

@_exported import KubetrailCore
