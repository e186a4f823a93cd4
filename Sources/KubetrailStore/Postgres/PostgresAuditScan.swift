import KubetrailTables

extension PostgresStore {
    public func scanAudit(_ columns: [AuditScanColumn], where conditions: [String], limits: QueryLimits,
                          _ body: (AuditScanRow) throws -> Void) throws -> [QueryColumn] {
        let select = columns.map { c -> String in
            let name = quoteIdentifier(c.name)
            guard let verbs = c.onlyForVerbs else { return name }
            return "CASE WHEN lower(verb) IN (\(verbs.map(PostgresSchema.literal).joined(separator: ", "))) THEN \(name) END AS \(name)"
        }
        let sql = "SELECT " + select.joined(separator: ", ") + " FROM " + quoteIdentifier(AuditLogRow.schema.name)
            + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
        let state = AuditScanState()
        try PostgresQuery(connection: try connect(), limits: limits).stream(sql, begin: { state.types = $0.map(\.type) }, row: { row in
            try body(AuditScanRow(sqlite: nil, postgres: row, scan: state))
        })
        return withExtendedLifetime(state) { columns.map(\.queryColumn) }
    }
}
