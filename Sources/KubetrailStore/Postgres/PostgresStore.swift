import Foundation
import KubetrailTables

/// The PostgreSQL store: the same four tables and the same guarantees as `SQLiteStore`, on a
/// server that several aggregators may write at once (docs/postgres.md).
///
/// One writer connection per process carries its write transactions, one at a time; reads and
/// queries take a connection from a small pool. Every statement is parameterised; rows go in by
/// COPY; batch ids and audit ids are deduplicated by the database inside the transaction that
/// stores the rows, so a batch re-sent to another aggregator is stored once.
public final class PostgresStore: Store, @unchecked Sendable {
    let url: String
    let password: String?
    let readOnly: Bool
    public let writtenHeads = ChainHeads()
    public var sharedWriters: Bool { true }
    public var engine: SQLEngine { .postgres }
    public func prepare<R: TableRow>(_ row: R) -> PreparedRow<R> { PreparedRow(postgres: row) }
    public var description: String { PostgresURL.redacted(url) }

    private let writerLock = NSLock()
    private var writerConnection: PostgresConnection?
    private let poolLock = NSLock()
    private var idle: [PostgresConnection] = []
    static let maxIdle = 4

    /// Day partitions known to exist, per partitioned table (days since 1970-01-01).
    private let partitionLock = NSLock()
    private var partitions: [String: Set<Int64>] = [:]

    /// Opens the store at `url`; for writing, creates or migrates its schema (several processes
    /// may do so at once: the migration lock serialises them). `waitForServer`: a server that
    /// is down or read-only now is not an error; every write tries again until it is ready.
    public init(url: String, password: String? = nil, readOnly: Bool = false, waitForServer: Bool = false) throws {
        self.url = url
        self.password = password
        self.readOnly = readOnly
        if readOnly {
            do {
                let c = try connect()
                let r = try c.execute("SELECT to_regclass($1) IS NOT NULL", [PostgresSchema.migrationsTable])
                guard r.rows.first?.first == "t" else {
                    throw StoreError.open(
                        path: description, message: "no kubetrail schema in this database (start the aggregator or run `kubetrail import --db …` first)")
                }
                release(c)
            } catch {
                // A server's queries: the database may come up, and its schema with it, later.
                guard waitForServer, Self.isTransient(error) else { throw error is StoreError ? error : Self.storeError(error, store: description) }
            }
            return
        }
        do {
            try prepareWriter()
        } catch {
            guard waitForServer, Self.isTransient(error) else { throw error is StoreError ? error : Self.storeError(error, store: description) }
        }
    }

    /// Connects the writer, migrates the schema and makes the current partitions: once, at
    /// the first write that finds the server ready.
    private func prepareWriter() throws {
        let c = try connect()
        try PostgresMigrations.run(on: c)
        try loadPartitions(c)
        try precreatePartitions(c, around: .now)
        writerConnection = c
        prepared = true
    }

    /// False until the schema is known to be this version's (`prepareWriter`).
    private var prepared = false

    // MARK: Connections

    func connect() throws -> PostgresConnection {
        let c: PostgresConnection
        do { c = try PostgresConnection(url: url, password: password) } catch let f as PostgresConnection.Failure {
            throw StoreError.open(path: description, message: f.message)
        }
        // Timestamps come back in one fixed form (PostgresValues.timestamp reads it).
        try c.execute("SET TimeZone = 'UTC'")
        try c.execute("SET DateStyle = 'ISO, YMD'")
        // Hashes are read back as bytea's hex form (a database may default to 'escape').
        try c.execute("SET bytea_output = 'hex'")
        // `PostgresSchema.literal` doubles quotes only: a backslash must not escape on a server
        // configured with standard_conforming_strings off.
        try c.execute("SET standard_conforming_strings = on")
        if readOnly { try c.execute("SET default_transaction_read_only = on") }
        return c
    }

    /// Runs `body` on a pooled connection; a connection left broken or mid-transaction is closed.
    func withReader<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        poolLock.lock()
        let pooled = idle.popLast()
        poolLock.unlock()
        let c = try pooled.flatMap { $0.isHealthy ? $0 : nil } ?? connect()
        let result = try body(c)
        release(c)
        return result
    }

    private func release(_ c: PostgresConnection) {
        guard c.isHealthy else { return }
        poolLock.lock()
        if idle.count < Self.maxIdle { idle.append(c) }
        poolLock.unlock()
    }

    // MARK: Transactions

    public func write<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
        guard !readOnly else { throw StoreError.sql("\(description) is open for reading only") }
        writerLock.lock()
        defer { writerLock.unlock() }
        let c: PostgresConnection
        do {
            if !prepared { try prepareWriter() }
            if let w = writerConnection, w.isHealthy {
                c = w
            } else {
                writerConnection = nil
                c = try connect()
                writerConnection = c
            }
        } catch {
            throw Self.storeError(error, store: description)
        }
        var updates: [String: ChainHeads.Head] = [:]
        var committing = false
        do {
            try precreatePartitions(c, around: .now)
            try PostgresTransaction.makeStagingTables(on: c)
            try c.execute("BEGIN")
            let tx = PostgresTransaction(store: self, connection: c, heads: writtenHeads)
            let result = try body(tx)
            updates = tx.chainUpdates
            if !updates.isEmpty { writtenHeads.propose(updates) }
            committing = true
            try c.execute("COMMIT")
            if !updates.isEmpty { writtenHeads.settle(updates, committed: true) }
            addPartitions(tx.createdPartitions)
            return result
        } catch {
            if c.inTransaction { _ = try? c.execute("ROLLBACK") }
            if !updates.isEmpty { committing ? settleAfterFailure(updates) : writtenHeads.settle(updates, committed: false) }
            if !c.isHealthy { writerConnection = nil }
            throw Self.storeError(error, store: description)
        }
    }

    /// A COMMIT that failed may still have committed (the connection broke after the server
    /// did): the store says which.
    private func settleAfterFailure(_ updates: [String: ChainHeads.Head]) {
        do {
            try withReader { c in
                for (cluster, head) in updates {
                    let stored = try PostgresChain.storedHead(c, cluster: cluster)
                    writtenHeads.settle([cluster: head], committed: stored == head)
                }
            }
        } catch {
            writtenHeads.settle(updates, committed: nil)
        }
    }

    public func read<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
        do {
            return try withReader { c in
                try c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                defer { _ = try? c.execute("ROLLBACK") }
                return try body(PostgresTransaction(store: self, connection: c, heads: nil))
            }
        } catch {
            throw Self.storeError(error, store: description)
        }
    }

    /// Server and connection failures as the store's errors: the ones that mean "nothing was
    /// written, try again" (connection lost, server shutting down, disk full, read-only) as
    /// `.write`, which the aggregator answers with 503.
    static func storeError(_ error: Error, store: String) -> Error {
        if case StoreError.open(_, let message) = error { return StoreError.unavailable(store: store, message: message) }
        guard let f = error as? PostgresConnection.Failure else { return error }
        return isTransient(f) ? StoreError.unavailable(store: store, message: f.message) : StoreError.sql(f.description)
    }

    /// The server is away, busy, out of space or read-only: the same write may succeed later.
    static func isTransient(_ error: Error) -> Bool {
        if case StoreError.open = error { return true }
        guard let f = error as? PostgresConnection.Failure else { return false }
        return f.sqlState.map { ["08", "53", "57", "58", "25", "40"].contains(String($0.prefix(2))) } ?? true
    }

    // MARK: Partitions

    private func loadPartitions(_ c: PostgresConnection) throws {
        var found: [String: Set<Int64>] = [:]
        for row in try c.execute(PostgresSchema.listPartitions).rows {
            guard let table = row[0], let name = row[1], let day = PostgresSchema.day(ofPartition: name, table: table) else { continue }
            found[table, default: []].insert(day)
        }
        partitionLock.lock()
        partitions = found
        partitionLock.unlock()
    }

    func knownPartitions(_ table: String) -> Set<Int64> {
        partitionLock.lock()
        defer { partitionLock.unlock() }
        return partitions[table] ?? []
    }

    func addPartitions(_ created: [String: Set<Int64>]) {
        guard !created.isEmpty else { return }
        partitionLock.lock()
        for (table, days) in created { partitions[table, default: []].formUnion(days) }
        partitionLock.unlock()
    }

    func forgetPartition(_ table: String, day: Int64) {
        partitionLock.lock()
        partitions[table]?.remove(day)
        partitionLock.unlock()
    }

    /// Yesterday to two days ahead exist before any write needs them: live rows never wait on
    /// partition DDL (which locks the whole table) inside a write transaction.
    private func precreatePartitions(_ c: PostgresConnection, around now: Timestamp) throws {
        let today = PostgresSchema.day(of: now)
        var missing: [String: Set<Int64>] = [:]
        for schema in KubernetesTables.all where PostgresSchema.isPartitioned(schema) {
            let known = knownPartitions(schema.name)
            let wanted = Set((today - 1)...(today + 2)).subtracting(known)
            if !wanted.isEmpty { missing[schema.name] = wanted }
        }
        guard !missing.isEmpty else { return }
        try c.execute("BEGIN")
        do {
            try Self.createPartitions(missing, on: c)
            try c.execute("COMMIT")
        } catch {
            _ = try? c.execute("ROLLBACK")
            throw error
        }
        addPartitions(missing)
    }

    /// Creates partitions inside the caller's transaction, under the partition lock (two
    /// aggregators creating the same day would otherwise race in the catalog).
    ///
    /// Each is made as a table of its own, then attached: ATTACH PARTITION takes a lock that
    /// lets inserts and queries on the table go on (CREATE TABLE … PARTITION OF would stop them
    /// until this transaction ends), and is bounded by a lock timeout besides.
    static func createPartitions(_ missing: [String: Set<Int64>], on c: PostgresConnection) throws {
        try c.execute("INSERT INTO kubetrail_locks (name) VALUES ('partitions') ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name")
        for (table, days) in missing.sorted(by: { $0.key < $1.key }) {
            for day in days.sorted() {
                let name = PostgresSchema.partitionName(table, day: day)
                // Made meanwhile by another aggregator (the lock above waited for it).
                guard try c.execute("SELECT to_regclass($1) IS NULL", [quoteIdentifier(name)]).rows.first?.first == "t" else { continue }
                try withLockTimeout(c) { for sql in PostgresSchema.createPartition(table, day: day) { try c.execute(sql) } }
            }
        }
    }

    /// Runs `body` with DDL's wait for a table lock bounded (then fails, and the write with it).
    @discardableResult
    static func withLockTimeout<T>(_ c: PostgresConnection, seconds: Int = 5, _ body: () throws -> T) throws -> T {
        let previous = try c.execute("SELECT current_setting('lock_timeout')").rows.first?.first ?? "0"
        try c.execute("SELECT set_config('lock_timeout', $1, true)", ["\(seconds)s"])
        let result = try body()
        try c.execute("SELECT set_config('lock_timeout', $1, true)", [previous ?? "0"])
        return result
    }

    // MARK: Queries

    /// A user's SQL runs on a connection of its own, closed after: whatever session state the
    /// statement left (settings, a session advisory lock) goes with it, never to a pooled
    /// connection the store's own reads use.
    public func query<S: QuerySink>(_ sql: String, now: Timestamp, limits: QueryLimits, into sink: S) throws {
        try PostgresQuery(connection: try connect(), limits: limits).run(sql, into: sink)
    }

    public func tableStats() throws -> [TableStats] {
        try withReader { c in
            try KubernetesTables.all.map { schema in
                let t = quoteIdentifier(schema.name), col = quoteIdentifier(schema.timeColumn)
                let r = try c.execute("SELECT count(*), min(\(col)), max(\(col)) FROM \(t)").rows[0]
                func iso(_ s: String?) -> String? { s.map { s in Array(s.utf8).withUnsafeBytes { PostgresValues.timestamp($0) } } }
                return TableStats(schema: schema, rows: Int64(r[0] ?? "0") ?? 0, first: iso(r[1]), last: iso(r[2]))
            }
        }
    }

    public func explain(_ sql: String, now: Timestamp) throws -> [String] {
        final class Lines: QuerySink {
            var lines: [String] = []
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) { if case .text(let t) = values.first { lines.append(t) } }
            func end() {}
        }
        let lines = Lines()
        try query("EXPLAIN " + sql, now: now, limits: QueryLimits(), into: lines)
        return lines.lines
    }
}

extension PostgresStore {
    /// Whether this connection's role may write kubetrail's audit table: a query database's
    /// role should not (`kubetrail grant-reader` makes one that cannot).
    public func roleMayWrite() throws -> Bool {
        try withReader { c in
            try c.execute("SELECT has_table_privilege('kubernetes_audit_logs', 'INSERT')").rows.first?.first == "t"
        }
    }

    /// The benchmarks' baseline: `rows` copied straight into their table and committed, with
    /// none of the store's checks (no duplicates looked for, no chain). Not for real data.
    /// `preEncoded`: rows prepared for PostgreSQL are sent as the COPY lines they carry (the
    /// ingest encodes them on its request threads); else each row is encoded as it is sent,
    /// as a client with rows in hand does.
    public func copyWithoutChecks<R: TableRow>(_ rows: [PreparedRow<R>], preEncoded: Bool = true) throws {
        let schema = R.schema
        try withReader { c in
            try c.execute("SET default_transaction_read_only = off")
            try c.execute("BEGIN")
            try PostgresTransaction(store: self, connection: c, heads: nil).ensurePartitions(schema.name, rows.map(\.timestamp))
            let columns = schema.columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
            try c.copyIn(
                "COPY \(quoteIdentifier(schema.name)) (\(columns)) FROM STDIN",
                lines: preEncoded
                    ? try PostgresTransaction.copyLines(rows, rows.map(\.postgresValues), schema)
                    : try rows.map { row in
                        var line: [UInt8] = []
                        CopyText.append(try PostgresTransaction.copyRow(row.postgresValues, schema), to: &line)
                        return line
                    })
            try c.execute("COMMIT")
        }
    }
}
