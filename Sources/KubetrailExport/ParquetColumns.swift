import Foundation
import KubetrailCore
import KubetrailParquet
import KubetrailStore
import KubetrailTables

/// How a table's columns become Parquet columns, and each stored value its Parquet value:
/// timestamps (stored as RFC 3339 text) as UTC microseconds, dates as days, JSON as text,
/// lists (stored as JSON arrays) as LIST<STRING>, booleans (stored 0/1) as BOOLEAN.
/// Columns named in `excluding` are left out (the hive layout keeps those in directory names).
struct ParquetColumns {
    let schema: [ParquetColumn]
    let types: [ColumnType]
    /// For each Parquet column, its index in the query's row.
    let sources: [Int]

    init(columns: [QueryColumn], table: TableSchema?, excluding: Set<String> = []) {
        sources = columns.indices.filter { !excluding.contains(columns[$0].name) }
        let kept = sources.map { columns[$0] }
        types = kept.map { table?.column(named: $0.name)?.type ?? .text }
        schema = zip(kept, types).map { column, type in
            let notNull = table?.column(named: column.name)?.notNull ?? false
            let kind: ParquetColumnKind = switch type {
            case .text, .json: .string
            case .int: .int64
            case .bool: .boolean
            case .timestamp: .timestampMicros
            case .date: .date
            case .list: .stringList
            }
            return ParquetColumn(name: column.name, kind: kind, nullable: !notNull)
        }
    }

    /// Appends one row's values to `writer`; a value its column cannot hold is an error naming both.
    func append(_ row: [QueryValue], to writer: ParquetWriter) throws {
        for (i, source) in sources.enumerated() {
            let value = row[source]
            func bad() -> ExportError {
                ExportError("column \(schema[i].name) (\(types[i].rawValue)) holds \(value), which Parquet's \(schema[i].kind) cannot take")
            }
            if case .null = value {
                try writer.appendNull(i)
                continue
            }
            switch (types[i], value) {
            case (.text, .text(let s)), (.json, .text(let s)):
                writer.append(i, string: s)
            case (.text, .int(let v)), (.json, .int(let v)):
                writer.append(i, string: String(v))
            case (.int, .int(let v)):
                writer.append(i, int64: v)
            case (.bool, .int(let v)):
                writer.append(i, bool: v != 0)
            case (.timestamp, .text(let s)):
                guard let t = Timestamp(rfc3339: s) else { throw bad() }
                writer.append(i, int64: t.microseconds)
            case (.date, .text(let s)):
                guard let t = Timestamp(rfc3339: s + "T00:00:00Z") else { throw bad() }
                let day = t.microseconds >= 0 ? t.microseconds / 86_400_000_000 : (t.microseconds + 1) / 86_400_000_000 - 1
                writer.append(i, int32: Int32(day))
            case (.list, .text(let s)):
                var s = s
                let list = s.withUTF8 { utf8 -> [String]? in
                    var scanner = JSONScanner(UnsafeRawBufferPointer(utf8))
                    return try? scanner.readStringArray()
                }
                guard let list else { throw bad() }
                writer.append(i, list: list)
            default:
                throw bad()
            }
        }
        try writer.endRow()
    }
}
