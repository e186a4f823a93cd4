import KubetrailTables

/// The PostgreSQL schema: the four tables in PostgreSQL's own types, kubetrail's bookkeeping
/// tables, and the versioned migrations that create them.
///
/// The audit and pod log tables — the ones that grow without bound — are partitioned by day on
/// their time column, so retention drops whole days. Their unique key must then hold the time
/// column (PostgreSQL has no index across partitions); a re-sent row carries the same time, so
/// (`tp_id`, time) still stores it once. Events and resources are kept current rather than
/// appended — a row's time changes as it is updated, which would move it between partitions —
/// and are bounded by the cluster's live objects, so they stay single tables keyed by `tp_id`.
enum PostgresSchema {
    static let migrationsTable = "kubetrail_schema_migrations"

    /// The migration lock is advisory (it is needed before any table exists): (class, key).
    static let lockClass: Int32 = 0x6B74, migrationLock: Int32 = 1

    static func isPartitioned(_ schema: TableSchema) -> Bool {
        schema.name == AuditLogRow.schema.name || schema.name == PodLogRow.schema.name
    }

    static func isAudit(_ schema: TableSchema) -> Bool { schema.name == AuditLogRow.schema.name }

    static func createTable(_ schema: TableSchema) -> [String] {
        let audit = isAudit(schema)
        var lines = schema.columns.map { c -> String in
            var d = "\(quoteIdentifier(c.name)) \(PostgresValues.sqlType(c.type, audit: audit))"
            if c.notNull { d += " NOT NULL" }
            return d
        }
        let partitioned = isPartitioned(schema)
        lines.append(partitioned ? "PRIMARY KEY (tp_id, \(quoteIdentifier(schema.timeColumn)))" : "PRIMARY KEY (tp_id)")
        var sql = "CREATE TABLE IF NOT EXISTS \(quoteIdentifier(schema.name)) (\n  " + lines.joined(separator: ",\n  ") + "\n)"
        if partitioned { sql += " PARTITION BY RANGE (\(quoteIdentifier(schema.timeColumn)))" }
        var statements = [sql]
        statements += zip(schema.indexNames, schema.indexes).map { name, cols in
            "CREATE INDEX IF NOT EXISTS \(quoteIdentifier(name)) ON \(quoteIdentifier(schema.name)) (\(cols.map(quoteIdentifier).joined(separator: ", ")))"
        }
        statements.append("COMMENT ON TABLE \(quoteIdentifier(schema.name)) IS \(literal(schema.description))")
        return statements
    }

    /// Migrations in order; each runs once, in its own transaction, under the migration lock.
    static let migrations: [(version: Int, name: String, statements: [String])] = [
        (
            1, "tables",
            KubernetesTables.all.flatMap(createTable) + [
                // Batches committed: a batch re-sent to any aggregator is acknowledged, not stored again.
                """
                CREATE TABLE kubetrail_ingest_batches (
                  batch_id text PRIMARY KEY, node text, committed_at timestamptz NOT NULL, records bigint NOT NULL)
                """,
                """
                CREATE TABLE kubetrail_cursors (name text PRIMARY KEY, value text NOT NULL, updated_at timestamptz NOT NULL)
                """,
                // The audit chain (docs/integrity.md). `tp_timestamp` is the text the chain hashed.
                """
                CREATE TABLE kubetrail_audit_chain (
                  seq bigserial PRIMARY KEY, cluster text NOT NULL, tp_id text NOT NULL, tp_timestamp text NOT NULL,
                  row_hash bytea NOT NULL, chain_hash bytea NOT NULL)
                """,
                "CREATE INDEX kubetrail_audit_chain_cluster ON kubetrail_audit_chain (cluster, seq)",
                "CREATE INDEX kubetrail_audit_chain_tp_id ON kubetrail_audit_chain (tp_id, seq)",
                """
                CREATE TABLE kubetrail_audit_digests (
                  cluster text NOT NULL, number bigint NOT NULL, created_at text NOT NULL, last_seq bigint, document text NOT NULL,
                  PRIMARY KEY (cluster, number))
                """,
                """
                CREATE TABLE kubetrail_audit_conflicts (
                  id bigserial PRIMARY KEY, tp_id text NOT NULL, audit_id text, stage text, cluster text, received_at timestamptz NOT NULL,
                  stored_source text, conflicting_source text, row_json text NOT NULL)
                """,
                "CREATE INDEX kubetrail_audit_conflicts_tp_id ON kubetrail_audit_conflicts (tp_id)",
                // Locks writers take as row locks: a READ ONLY transaction (every query's) cannot
                // take one, and a role with SELECT alone cannot either, so no query can hold up
                // ingest the way a user's pg_advisory_lock could.
                "CREATE TABLE kubetrail_chain_locks (cluster text PRIMARY KEY)",
                "CREATE TABLE kubetrail_locks (name text PRIMARY KEY)",
                // Leadership among aggregators: a lease renewed by its holder, taken over once it expires.
                "CREATE TABLE kubetrail_leases (name text PRIMARY KEY, holder text NOT NULL, expires_at timestamptz NOT NULL)"
            ]
        ),
        // Detections' CIDR test: false for a value that is not an address, where a cast in the
        // query would fail it whole; SQLite's query connections register the same function.
        (
            2, "detection functions",
            [
                """
                CREATE OR REPLACE FUNCTION kubetrail_in_cidr(address text, network text) RETURNS boolean
                LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
                BEGIN
                  RETURN address::inet <<= network::inet;
                EXCEPTION WHEN invalid_text_representation THEN
                  RETURN false;
                END $$
                """
            ]
        ),
        // The findings of continuous detection (a database made since has it from the first).
        (3, "detections", createTable(DetectionRow.schema)),
        // What followers read (ChangeJournal, PostgresTail); rows stored before it are found by time.
        (4, "change journal", PostgresChangeJournal.create)
    ]

    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    // MARK: Day partitions

    /// `kubernetes_pod_logs_20261127`.
    static func partitionName(_ table: String, day: Int64) -> String {
        let c = Timestamp(microseconds: day * 86_400_000_000).civil
        return String(format: "%@_%04lld%02lld%02lld", table, c.year, c.month, c.day)
    }

    /// The day (days since 1970-01-01) of a partition from its name; nil for other tables.
    static func day(ofPartition name: String, table: String) -> Int64? {
        guard name.hasPrefix(table + "_"), name.count == table.count + 9, let digits = Int64(name.suffix(8)) else { return nil }
        let text = String(format: "%04lld-%02lld-%02lldT00:00:00Z", digits / 10000, digits / 100 % 100, digits % 100)
        return Timestamp(rfc3339: text).map { day(of: $0) }
    }

    /// The days of stored timestamps (the contract's fixed-width text): each distinct date
    /// parsed once, as a batch's rows share a handful.
    static func days(of times: [String]) -> Set<Int64> {
        var dates = Set<Substring>()
        for t in times { dates.insert(t.prefix(10)) }
        return Set(dates.compactMap { Timestamp(rfc3339: $0 + "T00:00:00Z").map(day(of:)) })
    }

    static func day(of t: Timestamp) -> Int64 {
        let d = t.microseconds / 86_400_000_000
        return t.microseconds < 0 && t.microseconds % 86_400_000_000 != 0 ? d - 1 : d
    }

    /// A table shaped like the parent, then attached for its day (its indexes are made to
    /// match the parent's as it is attached).
    static func createPartition(_ table: String, day: Int64) -> [String] {
        let from = Timestamp(microseconds: day * 86_400_000_000).iso8601, to = Timestamp(microseconds: (day + 1) * 86_400_000_000).iso8601
        let name = quoteIdentifier(partitionName(table, day: day))
        return [
            "CREATE TABLE \(name) (LIKE \(quoteIdentifier(table)) INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
            "ALTER TABLE \(quoteIdentifier(table)) ATTACH PARTITION \(name) FOR VALUES FROM ('\(from)') TO ('\(to)')"
        ]
    }

    /// Partitions of the partitioned tables, by table.
    static let listPartitions = """
        SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('kubernetes_audit_logs', 'kubernetes_pod_logs') AND p.relnamespace = current_schema()::regnamespace
        """
}
