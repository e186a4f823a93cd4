import KubetrailCore
import KubetrailTables

/// The one way into a store, whatever keeps the rows: everything outside `KubetrailStore`
/// holds an `any Store` (opened from a `StoreLocation`) and the `StoreTransaction` its writes
/// hand out, never a backend's own types. A backend commits each `write` atomically, makes
/// batch ids and row ids idempotent, keeps the audit chain beside the rows it covers, and
/// answers read-only SQL in kubetrail's dialect (`SQLDialect`) as a row stream.
public protocol Store: AnyObject, Sendable, CustomStringConvertible {
    /// The audit chain heads this process committed: the writer extends no other.
    var writtenHeads: ChainHeads { get }
    /// True when other processes may write the same store at once (PostgreSQL): a chain may
    /// then run past this process's head, which must still be in it.
    var sharedWriters: Bool { get }
    /// The SQL engine queries run on, for SQL written per engine (detections).
    var engine: SQLEngine { get }

    /// Runs `body` in one write transaction: all its rows commit together or not at all.
    func write<T>(_ body: (any StoreTransaction) throws -> T) throws -> T

    /// Runs `body` on a read snapshot, beside the writer (only reading methods may be used).
    func read<T>(_ body: (any StoreTransaction) throws -> T) throws -> T

    /// A lock at most one process holds at a time, for duties one process does for all (the
    /// Kubernetes pollers, digests, retention); nil when only one process writes the store.
    func leaderLock(_ name: String) -> (any LeaderLock)?

    /// `row` made ready for this store's writer, on the caller's thread: the work that needs
    /// no transaction done here, beside the other requests, not on the one writer thread.
    func prepare<R: TableRow>(_ row: R) -> PreparedRow<R>

    /// Runs read-only SQL within `limits`, streaming rows into `sink`.
    func query<S: QuerySink>(_ sql: String, now: Timestamp, limits: QueryLimits, into sink: S) throws

    /// Reads audit rows for evaluation in Swift (`kubetrail detect`): the columns of the rows
    /// in `scope`, in no set order, each handed
    /// to `body` in place; returns the columns as a query would declare them. `selection`
    /// names the rows the caller can use; a backend may hand over others too, never fewer.
    /// With `streams` above 1 a backend may read the rows over that many connections at once:
    /// `body` is then called from as many threads, each call with its stream's number
    /// (`0..<streams`), never two calls at once for one stream.
    func scanAudit(
        _ columns: [AuditScanColumn], scope: AuditScanScope, selection: AuditScanSelection?, limits: QueryLimits,
        streams: Int, _ body: (_ stream: Int, AuditScanRow) throws -> Void
    ) throws -> [QueryColumn]

    /// Row counts and time ranges of the four tables.
    func tableStats() throws -> [TableStats]

    /// One page of a follow (`ChangeJournal`): the rows of `request.table` changed after its
    /// cursor (or, from `since`, first the rows at or after that time) that match its
    /// condition, into `sink`, read-only with the request's limits.
    func tail(_ request: TailRequest, into sink: any QuerySink) throws -> TailPage

    /// The backend's query plan, one line per step.
    func explain(_ sql: String, now: Timestamp) throws -> [String]

    // MARK: The audit chain, read outside a transaction

    /// Digests in number order; with `newest`, only that many of the latest.
    func digests(cluster: String?, newest: Int?) throws -> [StoredDigest]
    func chainClusters() throws -> [String]
    /// The first entry still in `cluster`'s chain (retention prunes its beginning).
    func firstChainSeq(cluster: String) throws -> Int64?
    /// The head of each cluster's chain now.
    func chainHeads() throws -> [ChainHeadSummary]
    /// Walks `cluster`'s chain after `seq` in order, each entry with its audit row's values (in
    /// the schema's column order), or nil when the row is gone.
    func walkAuditChain(cluster: String, after seq: Int64, through last: Int64, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws
    /// Audit rows whose stored key is not their `tp_id`'s (rewritten behind the writer's back,
    /// which would let a second event under that id in without a conflict), optionally only
    /// those with `tp_timestamp` in a range.
    func rekeyedAuditRows(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (ids: [String], total: Int)
    /// Audit rows with no chain entry, optionally only those with `tp_timestamp` in a range.
    func unchainedAuditRows(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (ids: [(id: String, timestamp: String)], total: Int)
    /// Recorded conflicts (newest first, at most `limit`) and how many there are in all.
    func auditConflicts(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (conflicts: [AuditConflict], total: Int)
}

/// Held by one process at a time; lost when that process (or its connection) dies.
public protocol LeaderLock: AnyObject, Sendable {
    /// Takes the lock if it is free, or checks it is still held; true while this process holds it.
    func tryAcquire() -> Bool
    func release()
}

/// The limits a query runs under (rows, wall-clock time, value size, cancellation).
public typealias QueryLimits = ReadOnlyConnection.Limits

/// One cluster's chain head, for export manifests.
public struct ChainHeadSummary: Sendable, Equatable {
    public var cluster: String
    public var lastSeq: Int64
    public var head: [UInt8]
    public var entries: Int
}

extension Store {
    public var sharedWriters: Bool { false }
    public func leaderLock(_ name: String) -> (any LeaderLock)? { nil }
    public func prepare<R: TableRow>(_ row: R) -> PreparedRow<R> { PreparedRow(row) }

    public func query<S: QuerySink>(_ sql: String, now: Timestamp = .now, into sink: S) throws {
        try query(sql, now: now, limits: QueryLimits(), into: sink)
    }

    public func explain(_ sql: String) throws -> [String] { try explain(sql, now: .now) }

    public func digests(cluster: String? = nil) throws -> [StoredDigest] { try digests(cluster: cluster, newest: nil) }

    public func walkAuditChain(cluster: String, after seq: Int64, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws {
        try walkAuditChain(cluster: cluster, after: seq, through: .max, body)
    }

    public func auditConflicts(from: Timestamp? = nil, to: Timestamp? = nil) throws -> (conflicts: [AuditConflict], total: Int) {
        try auditConflicts(from: from, to: to, limit: 50)
    }
}

/// What inserting a row did.
public enum InsertOutcome: Sendable, Equatable {
    case inserted
    /// The same `tp_id` was already stored (or a newer version of it).
    case duplicate
    /// An event or resource replaced its older stored version.
    case updated
    /// An audit event whose `auditID` and stage are stored with other content: not a copy of
    /// it but a second claim to be it. Kept in `kubetrail_audit_conflicts`.
    case conflict
}

/// One write transaction (or read snapshot) of a `Store`.
public protocol StoreTransaction: AnyObject {
    /// Inserts a row of any of the four tables, deduplicated by its id; audit rows are chained.
    func insert<R: TableRow>(_ row: PreparedRow<R>) throws -> InsertOutcome
    /// Inserts rows of one table in order, as one `insert` each would (a later row with an
    /// earlier one's id is its duplicate, or completes it); a backend that writes in bulk
    /// (PostgreSQL's COPY) does so here.
    func insert<R: TableRow>(_ rows: [PreparedRow<R>]) throws -> [InsertOutcome]

    // MARK: Batches and cursors: what makes a re-send and a resumed stream idempotent

    /// Records a batch as committed with this transaction; false when it already was.
    func recordBatch(id: String, node: String, records: Int) throws -> Bool
    /// Forgets batch ids committed before `cutoff`; returns how many.
    @discardableResult func forgetBatches(committedBefore cutoff: Timestamp) throws -> Int
    func hasBatch(id: String) throws -> Bool
    /// The saved position of a stream, nil when none.
    func cursor(_ name: String) throws -> String?
    /// Saves a stream's position in this transaction, with the rows read up to it.
    func setCursor(_ name: String, _ value: String) throws

    // MARK: Retention and resources

    /// Deletes up to `limit` rows whose time column is before `cutoff`; returns how many.
    func deleteOlder(in schema: TableSchema, than cutoff: Timestamp, limit: Int) throws -> Int
    /// The ids of `kubernetes_resources` rows of one kind in one cluster (in `namespaces` and
    /// cluster-scoped when given).
    func resourceIDs(kind: String, cluster: String?, namespaces: [String]?) throws -> Set<String>
    /// Removes a row (a deleted resource).
    @discardableResult func delete(table schema: TableSchema, id: String) throws -> Bool

    // MARK: The audit chain and its digests

    func chainClusters() throws -> [String]
    func storedChainHead(cluster: String) throws -> ChainHeads.Head?
    func lastDigest(cluster: String) throws -> StoredDigest?
    func chainSpan(cluster: String, after seq: Int64) throws -> ChainSpan
    /// The newest retention cutoff a digest signed, if any.
    func signedAuditRetentionCutoff() throws -> Timestamp?
    func walkAuditChain(cluster: String, after seq: Int64, through last: Int64, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws
    func insertDigest(_ d: StoredDigest) throws
    /// Prunes chain entries older than `cutoff`; returns how many.
    @discardableResult func pruneAuditChain(olderThan cutoff: Timestamp) throws -> Int
    /// Drops change journal entries older than `cutoff`, at most `limit` per table.
    @discardableResult func pruneChanges(olderThan cutoff: Timestamp, limit: Int) throws -> Int
}

extension StoreTransaction {
    public func insert<R: TableRow>(_ rows: [PreparedRow<R>]) throws -> [InsertOutcome] {
        try rows.map { try insert($0) }
    }

    /// Prepares and inserts on this thread; callers with a writer thread of their own prepare
    /// rows before handing them over (`PreparedRow`).
    public func insert<R: TableRow>(_ row: R) throws -> InsertOutcome {
        try insert(PreparedRow(row))
    }

    public func resourceIDs(kind: String, cluster: String?) throws -> Set<String> {
        try resourceIDs(kind: kind, cluster: cluster, namespaces: nil)
    }

    public func walkAuditChain(cluster: String, after seq: Int64, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws {
        try walkAuditChain(cluster: cluster, after: seq, through: .max, body)
    }
}
