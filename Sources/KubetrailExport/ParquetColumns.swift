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
            let kind: ParquetColumnKind =
                switch type {
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
        for (i, source) in sources.enumerated() { try append(row[source], column: i, to: writer) }
        try writer.endRow()
    }

    /// The same, reading SQLite's buffers in place: the common cases without a String per cell.
    func append(raw row: StoreRow, to writer: ParquetWriter) throws {
        for (i, source) in sources.enumerated() {
            let kind = row.kind(source)
            switch (types[i], kind) {
            case (_, .null):
                try writer.appendNull(i)
            case (.text, .text), (.json, .text):
                writer.append(i, string: row.bytes(source))
            case (.int, .int):
                writer.append(i, int64: row.int(source))
            case (.bool, .int):
                writer.append(i, bool: row.int(source) != 0)
            case (.timestamp, .text):
                if let t = Timestamp.parse(row.bytes(source)) {
                    writer.append(i, int64: t.microseconds)
                } else {
                    try append(row.value(source), column: i, to: writer)  // reports it
                }
            case (.list, .text):
                if !appendList(row.bytes(source), column: i, to: writer) {
                    try append(row.value(source), column: i, to: writer)
                }
            default:
                try append(row.value(source), column: i, to: writer)
            }
        }
        try writer.endRow()
    }

    /// A stored JSON array of strings, elements handed over in place unless they need unescaping.
    private func appendList(_ bytes: UnsafeRawBufferPointer, column: Int, to writer: ParquetWriter) -> Bool {
        var scanner = JSONScanner(bytes)
        var tokens: [JSONStringToken] = []
        do {
            try scanner.enterArray()
            var first = true
            while try scanner.nextElement(&first) { tokens.append(try scanner.readStringToken()) }
        } catch {
            return false
        }
        if tokens.contains(where: \.hasEscapes) {
            writer.append(column, list: tokens.map { scanner.string($0) })
        } else {
            writer.append(column, listOf: tokens.count) { UnsafeRawBufferPointer(rebasing: bytes[tokens[$0].range]) }
        }
        return true
    }

    private func append(_ value: QueryValue, column i: Int, to writer: ParquetWriter) throws {
        func bad() -> ExportError {
            ExportError("column \(schema[i].name) (\(types[i].rawValue)) holds \(value), which Parquet's \(schema[i].kind) cannot take")
        }
        switch (types[i], value) {
        case (_, .null):
            try writer.appendNull(i)
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
}
