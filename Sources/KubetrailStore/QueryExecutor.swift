import GRDB
import GRDBSQLite
import KubetrailTables

public struct QueryColumn: Sendable, Equatable {
    public var name: String
    /// The declared type when the column is a table column (e.g. `JSON TEXT`), else nil.
    public var declaredType: String?

    public init(name: String, declaredType: String? = nil) {
        self.name = name
        self.declaredType = declaredType
    }

    public var isJSON: Bool { declaredType.map { $0.hasPrefix("JSON") || $0.hasPrefix("LIST") } ?? false }
    public var isBoolean: Bool { declaredType?.hasPrefix("BOOLEAN") ?? false }
}

public enum QueryValue: Sendable, Equatable {
    case null
    case int(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// Receives one or more result sets, row by row, so nothing has to hold a whole result.
public protocol QuerySink {
    func begin(columns: [QueryColumn]) throws
    func row(_ values: [QueryValue]) throws
    func end() throws
}

enum QueryExecutor {
    static func run(_ sql: String, in db: Database, into sink: some QuerySink) throws {
        let statements = try db.allStatements(sql: sql)
        var ranAny = false
        while let statement = try statements.next() {
            ranAny = true
            let h = statement.sqliteStatement
            let n = Int32(statement.columnCount)
            guard n > 0 else {
                try statement.execute()
                continue
            }
            let columns = (0..<n).map { i in
                QueryColumn(name: String(cString: sqlite3_column_name(h, i)),
                            declaredType: sqlite3_column_decltype(h, i).map { String(cString: $0) })
            }
            try sink.begin(columns: columns)
            sqlite3_reset(h)
            defer { sqlite3_reset(h) }
            var values = [QueryValue](repeating: .null, count: Int(n))
            while true {
                let rc = sqlite3_step(h)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                }
                for i in 0..<n {
                    switch sqlite3_column_type(h, i) {
                    case SQLITE_NULL: values[Int(i)] = .null
                    case SQLITE_INTEGER: values[Int(i)] = .int(sqlite3_column_int64(h, i))
                    case SQLITE_FLOAT: values[Int(i)] = .real(sqlite3_column_double(h, i))
                    case SQLITE_BLOB:
                        let count = Int(sqlite3_column_bytes(h, i))
                        let p = sqlite3_column_blob(h, i)
                        values[Int(i)] = .blob(p.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? [])
                    default:
                        let count = Int(sqlite3_column_bytes(h, i))
                        let p = sqlite3_column_text(h, i)
                        values[Int(i)] = .text(p.map { String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self) } ?? "")
                    }
                }
                try sink.row(values)
            }
            try sink.end()
        }
        if !ranAny { throw DatabaseError(message: "no SQL statement to run") }
    }
}
