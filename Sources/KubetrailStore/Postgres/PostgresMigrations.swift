/// Brings a database's schema up to this version's, once, however many aggregators start at
/// the same moment: the first takes the migration lock and applies what is missing, each
/// migration in its own transaction; the others wait, then find nothing left to do.
enum PostgresMigrations {
    static func run(on c: PostgresConnection) throws {
        let lock = [String(PostgresSchema.lockClass), String(PostgresSchema.migrationLock)]
        try c.execute("SELECT pg_advisory_lock($1, $2)", lock)
        defer { _ = try? c.execute("SELECT pg_advisory_unlock($1, $2)", lock) }
        try c.execute(
            """
            CREATE TABLE IF NOT EXISTS \(PostgresSchema.migrationsTable) (
              version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """)
        let applied = Set(try c.execute("SELECT version FROM \(PostgresSchema.migrationsTable)").rows.compactMap { $0[0].flatMap { Int($0) } })
        let known = PostgresSchema.migrations.map(\.version)
        if let newest = applied.max(), newest > known.max() ?? 0 {
            throw StoreError.open(
                path: "PostgreSQL",
                message: "the database's kubetrail schema is version \(newest), newer than this kubetrail's \(known.max() ?? 0): upgrade kubetrail")
        }
        for migration in PostgresSchema.migrations where !applied.contains(migration.version) {
            try c.execute("BEGIN")
            do {
                for sql in migration.statements { try c.execute(sql) }
                try c.execute("INSERT INTO \(PostgresSchema.migrationsTable) (version, name) VALUES ($1, $2)", [String(migration.version), migration.name])
                try c.execute("COMMIT")
            } catch {
                _ = try? c.execute("ROLLBACK")
                throw error
            }
        }
    }
}
