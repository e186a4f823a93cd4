import KubetrailTables

/// How the table contract's types are declared in SQLite.
///
/// Every text-like type keeps TEXT affinity (the declared name contains TEXT) so SQLite never
/// coerces values; the leading word survives in `sqlite3_column_decltype`, which lets output
/// formats print JSON and list columns as JSON rather than as quoted strings.
extension ColumnType {
    var sqliteDeclaration: String {
        switch self {
        case .text: return "TEXT"
        case .int: return "INTEGER"
        case .bool: return "BOOLEAN INTEGER"
        case .timestamp: return "TIMESTAMP TEXT"
        case .date: return "DATE TEXT"
        case .json: return "JSON TEXT"
        case .list: return "LIST TEXT"
        }
    }
}

extension TableSchema {
    func createTableSQL() -> String {
        let cols = columns.map { c -> String in
            var d = "\(quoteIdentifier(c.name)) \(c.type.sqliteDeclaration)"
            if c.notNull { d += " NOT NULL" }
            if c.name == "tp_id" { d += " UNIQUE" }
            return d
        }
        return "CREATE TABLE IF NOT EXISTS \(quoteIdentifier(name)) (\n  " + cols.joined(separator: ",\n  ") + "\n)"
    }

    var indexNames: [String] { indexes.map { "\(name)__\($0.joined(separator: "__"))" } }

    func createIndexSQL(on table: String? = nil) -> [String] {
        zip(indexNames, indexes).map { indexName, cols in
            "CREATE INDEX IF NOT EXISTS \(quoteIdentifier(indexName)) ON \(quoteIdentifier(table ?? name)) (\(cols.map(quoteIdentifier).joined(separator: ", ")))"
        }
    }
}

func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
