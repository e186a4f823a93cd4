import KubetrailTables

/// How each contract column of the audit table is kept in `kubetrail_audit_rows`, and the SQL
/// that reads it back for the `kubernetes_audit_logs` view.
///
/// Most of an audit row's bytes are values that repeat from row to row: the authorizer's
/// reason and the annotations holding it again, the user's groups and names, the user agent,
/// the file the row came from, the table's own name. Those columns hold the id
/// of the value in a dictionary of their type (`ValueDictionary`); the others are stored as they
/// are. On the bench's generated log that made rows 45 % smaller (1,257 → 692 bytes), and on
/// the fixtures' real audit logs each of these columns has at most 46 distinct values in 925 rows.
/// Columns people filter on (`source_ips`, `tp_date`, …) and small ones stay plain: every
/// interned column read costs a lookup, and a full `SELECT *` to CSV is 28 % slower as it is.
///
/// The view reads a value back with a scalar subquery by its integer primary key: SQLite
/// evaluates it only for a row whose column is selected (a `GROUP BY user_name` never runs one,
/// where an unused LEFT JOIN is kept by aggregates and made top-N 37 times slower), and the
/// subquery's column gives the view column its declared type (`LIST TEXT`, `JSON TEXT`), which
/// output formats use to print lists and JSON as JSON.
///
/// Columns that are filtered, grouped or indexed stay plain, so the indexes and the README's
/// queries work on them as before.
enum AuditLayout {
    static let table = "kubetrail_audit_rows"

    /// Contract columns kept as dictionary ids.
    static let interned: Set<String> = [
        "tp_table", "tp_source_location", "tp_usernames", "user_agent", "user_groups", "authorization_reason", "annotations"
    ]

    /// The columns in the contract's order; `internedType[i]` is the dictionary type of column
    /// `i` when it is interned.
    static let columns = AuditLogRow.schema.columns
    static let internedType: [ColumnType?] = columns.map { interned.contains($0.name) ? $0.type : nil }

    /// A column present only in this layout: the one that tells it from the wide one before it.
    static let marker = physicalName("annotations")

    static func physicalName(_ column: String) -> String {
        interned.contains(column) ? column + "_ref" : column
    }

    static func createTableSQL() -> String {
        let cols = columns.map { c -> String in
            if interned.contains(c.name) { return "\(quoteIdentifier(physicalName(c.name))) INTEGER" }
            return "\(quoteIdentifier(c.name)) \(c.type.sqliteDeclaration)\(c.notNull ? " NOT NULL" : "")"
        }
        return "CREATE TABLE IF NOT EXISTS \(table) (\n  " + (cols + ["\(AuditStorage.keyColumn) INTEGER NOT NULL"]).joined(separator: ",\n  ") + "\n)"
    }

    /// The SQL of contract column `name` read from a rows table named (or aliased) `qualifier`.
    static func expression(_ name: String, from qualifier: String) -> String {
        let column = qualifier + "." + quoteIdentifier(physicalName(name))
        guard let c = columns.first(where: { $0.name == name }), interned.contains(name) else { return column }
        return "(SELECT value FROM \(ValueDictionary.table(for: c.type)) WHERE id = \(column))"
    }

    static func viewSQL() -> String {
        let cols = columns.map { "\(expression($0.name, from: table)) AS \(quoteIdentifier($0.name))" }
        return "CREATE VIEW \(quoteIdentifier(AuditStorage.view)) AS SELECT " + cols.joined(separator: ", ") + " FROM \(table)"
    }

    /// The statement that inserts a row: the contract's columns in order, then `tp_key`.
    static func insertSQL() -> String {
        let cols = columns.map { quoteIdentifier(physicalName($0.name)) } + [AuditStorage.keyColumn]
        return "INSERT INTO \(table) (\(cols.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: cols.count).joined(separator: ", ")))"
    }
}
