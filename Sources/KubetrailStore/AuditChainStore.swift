import Foundation
import GRDB
import KubetrailTables

/// One entry of the audit chain as stored.
public struct ChainEntry: Sendable {
    public var seq: Int64
    public var cluster: String
    public var id: String
    public var timestamp: String
    public var rowHash: [UInt8]
    public var chainHash: [UInt8]
}

/// The entries a digest covers: those after the previous digest's last one.
public struct ChainSpan: Sendable {
    public var count: Int
    public var firstSeq: Int64?
    public var lastSeq: Int64?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var head: [UInt8]?
}

/// A stored digest: its number, when, the last chain entry it covers, and its signed document.
public struct StoredDigest: Sendable {
    public var cluster: String
    public var number: Int
    public var createdAt: String
    public var lastSeq: Int64?
    public var document: String

    public init(cluster: String, number: Int, createdAt: String, lastSeq: Int64?, document: String) {
        self.cluster = cluster
        self.number = number
        self.createdAt = createdAt
        self.lastSeq = lastSeq
        self.document = document
    }
}

extension SQLiteTransaction {
    public func chainClusters() throws -> [String] {
        try String.fetchAll(db, sql: "SELECT DISTINCT cluster FROM kubetrail_audit_chain UNION SELECT DISTINCT cluster FROM kubetrail_audit_digests ORDER BY 1")
    }

    /// The chain's stored head for `cluster` (its newest entry, or the digest it was pruned to).
    public func storedChainHead(cluster: String) throws -> ChainHeads.Head? {
        try AuditChain.storedHead(db, cluster: cluster)
    }

    public func lastDigest(cluster: String) throws -> StoredDigest? {
        try Row.fetchOne(db, sql: "SELECT * FROM kubetrail_audit_digests WHERE cluster = ? ORDER BY number DESC LIMIT 1", arguments: [cluster]).map(
            StoredDigest.init)
    }

    /// The entries of `cluster` after `seq`: how many, their seq and time range, the head.
    public func chainSpan(cluster: String, after seq: Int64) throws -> ChainSpan {
        let r = try Row.fetchOne(
            db,
            sql: """
                SELECT count(*), min(seq), max(seq), min(tp_timestamp), max(tp_timestamp) FROM kubetrail_audit_chain WHERE cluster = ? AND seq > ?
                """, arguments: [cluster, seq])!
        var span = ChainSpan(count: r[0], firstSeq: r[1], lastSeq: r[2], firstTimestamp: r[3], lastTimestamp: r[4])
        if let last = span.lastSeq {
            span.head = try Data.fetchOne(db, sql: "SELECT chain_hash FROM kubetrail_audit_chain WHERE seq = ?", arguments: [last]).map { Array($0) }
        }
        return span
    }

    /// The audit retention cutoff every cluster's newest digest has signed (the earliest of
    /// them): audit rows may only be deleted up to it, so no row goes missing before a digest
    /// says it may. Nil when there is no digest.
    public func signedAuditRetentionCutoff() throws -> Timestamp? {
        let documents = try String.fetchAll(
            db,
            sql: """
                SELECT document FROM kubetrail_audit_digests d WHERE number = (SELECT max(number) FROM kubetrail_audit_digests WHERE cluster = d.cluster)
                """)
        return AuditChain.signedRetentionCutoff(documents)
    }

    /// Walks `cluster`'s chain after `seq` in order, each entry with its audit row's values
    /// (in the schema's column order), or nil when the row is gone. SQLite may give a deleted
    /// row's rowid to a later one: an entry whose rowid a later entry claims has lost its row.
    public func walkAuditChain(cluster: String, after seq: Int64, through last: Int64 = .max, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws {
        let stored = try AuditStorage.rows(db)
        let columns = Self.exactColumns(of: stored, alias: "a")
        do {
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT c.seq, c.cluster, c.tp_id, c.tp_timestamp, c.row_hash, c.chain_hash,
                           a.rowid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM kubetrail_audit_chain d WHERE d.row_rowid = c.row_rowid AND d.seq > c.seq),
                           \(columns)
                    FROM kubetrail_audit_chain c LEFT JOIN \(stored.table) a ON a.rowid = c.row_rowid
                    WHERE c.cluster = ? AND c.seq > ? AND c.seq <= ? ORDER BY c.seq
                    """, arguments: [cluster, seq, last])
            while let r = try rows.next() {
                let entry = ChainEntry(seq: r[0], cluster: r[1], id: r[2], timestamp: r[3], rowHash: Array(r[4] as Data), chainHash: Array(r[5] as Data))
                let present: Bool = r[6]
                try body(entry, present ? Self.exactValues(r, from: 7) : nil)
            }
        }
    }

    /// The audit columns, each as its storage class and its bytes: text read by length, so a
    /// NUL inside a value reads (and hashes) as it was written. GRDB's text reading stops there.
    static func exactColumns(of rows: AuditStorage.Rows, alias: String) -> String {
        AuditLogRow.schema.columns.map { c -> String in
            let q = rows.expression(c.name, alias: alias)
            return "typeof(\(q)), CAST(\(q) AS BLOB)"
        }.joined(separator: ", ")
    }

    /// Decodes what `exactColumns` selected, starting at column `from`.
    static func exactValues(_ r: Row, from: Int) -> [QueryValue] {
        stride(from: from, to: r.count, by: 2).map { i in
            let bytes: Data = (r[i + 1] as Data?) ?? Data()
            switch r[i] as String {
            case "null": return .null
            case "integer": return .int(Int64(String(decoding: bytes, as: UTF8.self)) ?? 0)
            case "real": return .real(Double(String(decoding: bytes, as: UTF8.self)) ?? 0)
            case "text": return .text(String(decoding: bytes, as: UTF8.self))
            default: return .blob(Array(bytes))
            }
        }
    }

    public func insertDigest(_ d: StoredDigest) throws {
        try db.execute(
            sql: "INSERT INTO kubetrail_audit_digests (cluster, number, created_at, last_seq, document) VALUES (?, ?, ?, ?, ?)",
            arguments: [d.cluster, d.number, d.createdAt, d.lastSeq, d.document])
    }

    /// After retention: drops the chain's prefix up to the last digest whose entries are all
    /// older than `cutoff` (that digest's signed head is where verification starts again).
    /// Returns the entries removed.
    @discardableResult
    public func pruneAuditChain(olderThan cutoff: Timestamp) throws -> Int {
        var removed = 0
        for cluster in try chainClusters() {
            let firstLive =
                try Int64.fetchOne(
                    db, sql: "SELECT min(seq) FROM kubetrail_audit_chain WHERE cluster = ? AND tp_timestamp >= ?",
                    arguments: [cluster, cutoff.iso8601]) ?? Int64.max
            guard
                let through = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT max(last_seq) FROM kubetrail_audit_digests WHERE cluster = ? AND last_seq < ?
                        """, arguments: [cluster, firstLive])
            else { continue }
            try db.execute(sql: "DELETE FROM kubetrail_audit_chain WHERE cluster = ? AND seq <= ?", arguments: [cluster, through])
            removed += db.changesCount
        }
        return removed
    }
}

extension StoredDigest {
    fileprivate init(_ r: Row) {
        self.init(cluster: r["cluster"], number: r["number"], createdAt: r["created_at"], lastSeq: r["last_seq"], document: r["document"])
    }
}

extension SQLiteStore {
    /// Digests in number order; with `newest`, only that many of the latest.
    public func digests(cluster: String?, newest: Int?) throws -> [StoredDigest] {
        try pool.read { db in
            if let cluster {
                let limit = newest.map { " DESC LIMIT \($0)" } ?? ""
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM kubetrail_audit_digests WHERE cluster = ? ORDER BY number" + limit, arguments: [cluster])
                    .map(StoredDigest.init)
                return newest == nil ? rows : rows.reversed()
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM kubetrail_audit_digests ORDER BY cluster, number").map(StoredDigest.init)
        }
    }

    public func chainClusters() throws -> [String] { try pool.read { try SQLiteTransaction($0).chainClusters() } }

    /// The first entry still in `cluster`'s chain (retention prunes its beginning).
    public func firstChainSeq(cluster: String) throws -> Int64? {
        try pool.read { try Int64.fetchOne($0, sql: "SELECT min(seq) FROM kubetrail_audit_chain WHERE cluster = ?", arguments: [cluster]) }
    }

    /// The head of each cluster's chain now: for export manifests.
    public func chainHeads() throws -> [ChainHeadSummary] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT c.cluster, c.seq, c.chain_hash, (SELECT count(*) FROM kubetrail_audit_chain WHERE cluster = c.cluster)
                    FROM kubetrail_audit_chain c WHERE c.seq = (SELECT max(seq) FROM kubetrail_audit_chain WHERE cluster = c.cluster) ORDER BY c.cluster
                    """
            ).map { r in ChainHeadSummary(cluster: r[0], lastSeq: r[1], head: Array(r[2] as Data), entries: r[3]) }
        }
    }

    /// Walks `cluster`'s chain after `seq` in order, each entry with its audit row's values
    /// (in the schema's column order), or nil when the row is gone.
    public func walkAuditChain(cluster: String, after seq: Int64, through last: Int64, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws {
        try pool.read { db in try SQLiteTransaction(db).walkAuditChain(cluster: cluster, after: seq, through: last, body) }
    }

    /// `condition` on audit rows `a`, and `tp_timestamp` in `[from, to)` when given.
    private static func auditRowsWhere(_ condition: String, from: Timestamp?, to: Timestamp?) -> (sql: String, arguments: [String]) {
        var conditions = [condition]
        var arguments: [String] = []
        if let from { conditions.append("a.tp_timestamp >= ?"); arguments.append(from.iso8601) }
        if let to { conditions.append("a.tp_timestamp < ?"); arguments.append(to.iso8601) }
        return (conditions.joined(separator: " AND "), arguments)
    }

    public func rekeyedAuditRows(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (ids: [String], total: Int) {
        let (whereSQL, arguments) = Self.auditRowsWhere("a.\(AuditStorage.keyColumn) IS NOT kubetrail_tp_key(CAST(a.tp_id AS BLOB))", from: from, to: to)
        return try pool.read { db in
            // A file from before the key, opened read-only, has none to check.
            guard try AuditStorage.rows(db).keyed else { return ([], 0) }
            AuditStorage.addKeyFunction(db)
            let ids = try String.fetchAll(
                db, sql: "SELECT a.tp_id FROM \(AuditStorage.table) a WHERE \(whereSQL) ORDER BY a.rowid LIMIT \(limit)",
                arguments: StatementArguments(arguments))
            let total =
                ids.count < limit
                ? ids.count
                : try Int.fetchOne(db, sql: "SELECT count(*) FROM \(AuditStorage.table) a WHERE \(whereSQL)", arguments: StatementArguments(arguments)) ?? 0
            return (ids, total)
        }
    }

    /// Audit rows with no chain entry (inserted behind the writer's back), optionally only
    /// those with `tp_timestamp` in a range.
    public func unchainedAuditRows(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (ids: [(id: String, timestamp: String)], total: Int) {
        let (whereSQL, arguments) = Self.auditRowsWhere("NOT EXISTS (SELECT 1 FROM kubetrail_audit_chain c WHERE c.row_rowid = a.rowid)", from: from, to: to)
        return try pool.read { db in
            let table = try AuditStorage.rows(db).table
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) a WHERE \(whereSQL)", arguments: StatementArguments(arguments)) ?? 0
            let ids = try Row.fetchAll(
                db, sql: "SELECT a.tp_id, a.tp_timestamp FROM \(table) a WHERE \(whereSQL) ORDER BY a.tp_timestamp LIMIT \(limit)",
                arguments: StatementArguments(arguments)
            ).map { (id: $0[0] as String, timestamp: $0[1] as String) }
            return (ids, total)
        }
    }
}
