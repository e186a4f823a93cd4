import Crypto
import Foundation
import GRDB
import GRDBSQLite
import KubetrailTables

/// The hash of one stored row: SHA-256 over its non-null values, each as the column's name, a
/// type tag, a length and its bytes, so no two different rows encode alike, and a column added
/// later (NULL in older rows) leaves the older rows' hashes as they were. Booleans hash as the
/// integers SQLite stores, so a row hashes the same bound and read back.
public enum RowHash {
    public static let columnNames = AuditLogRow.schema.columns.map(\.name)

    public static func of(_ values: [ColumnValue], columns: [String] = columnNames) -> [UInt8] {
        var e = Encoder()
        for (name, v) in zip(columns, values) {
            switch v {
            case .null: continue
            case .int(let i): e.int(name, i)
            case .bool(let b): e.int(name, b ? 1 : 0)
            case .text(let s): e.tagged(name, 2, s.utf8)
            }
        }
        return e.digest()
    }

    public static func of(_ values: [QueryValue], columns: [String] = columnNames) -> [UInt8] {
        var e = Encoder()
        for (name, v) in zip(columns, values) {
            switch v {
            case .null: continue
            case .int(let i): e.int(name, i)
            case .text(let s): e.tagged(name, 2, s.utf8)
            case .real(let d): e.tagged(name, 3, withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) })
            case .blob(let b): e.tagged(name, 4, b)
            }
        }
        return e.digest()
    }

    struct Encoder {
        var bytes: [UInt8] = []
        init() { bytes.reserveCapacity(4096) }
        mutating func field(_ b: some Collection<UInt8>) {
            withUnsafeBytes(of: UInt32(b.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: b)
        }
        mutating func int(_ name: String, _ i: Int64) { tagged(name, 1, withUnsafeBytes(of: i.littleEndian) { Array($0) }) }
        mutating func tagged(_ name: String, _ tag: UInt8, _ b: some Collection<UInt8>) {
            field(name.utf8)
            bytes.append(tag)
            field(b)
        }
        func digest() -> [UInt8] { Array(SHA256.hash(data: bytes)) }
    }
}

/// The chain: each entry's hash is SHA-256(previous entry's hash ‖ SHA-256(cluster, tp_id,
/// tp_timestamp, row hash)), starting from 32 zero bytes, separately per cluster. The entry's
/// own columns are in the hash, so none of them can be edited (say, backdated to look expired)
/// without breaking the chain.
public enum ChainHash {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func next(_ previous: [UInt8], cluster: String, id: String, timestamp: String, rowHash: [UInt8]) -> [UInt8] {
        var e = RowHash.Encoder()
        e.field(cluster.utf8)
        e.field(id.utf8)
        e.field(timestamp.utf8)
        e.field(rowHash)
        var h = SHA256()
        h.update(data: previous)
        h.update(data: e.digest())
        return Array(h.finalize())
    }
}

/// Appends committed audit rows to `kubetrail_audit_chain` inside the writer's transaction, so
/// a row and its chain entry commit together or not at all. The first append to a cluster in a
/// transaction checks the stored head against the one this process committed last (`ChainHeads`).
final class AuditChain {
    let db: Database
    let known: ChainHeads?
    /// The heads this transaction reached, published to `known` only once it commits.
    private(set) var heads: [String: ChainHeads.Head] = [:]

    init(_ db: Database, known: ChainHeads? = nil) {
        self.db = db
        self.known = known
    }

    /// The audit table's values of a fetched row, in the schema's column order.
    static func values(of row: Row) -> [QueryValue] {
        AuditLogRow.schema.columns.map { c in (row[c.name] as DatabaseValue?).map(value) ?? .null }
    }

    static func value(_ v: DatabaseValue) -> QueryValue {
        switch v.storage {
        case .null: return .null
        case .int64(let i): return .int(i)
        case .double(let d): return .real(d)
        case .string(let s): return .text(s)
        case .blob(let d): return .blob(Array(d))
        }
    }

    /// Appends the entry of the audit row just inserted at `rowid`. A row that comes back after
    /// retention removed it is a new commit and gets a new entry; its old one stays, expired.
    func append(rowHash: [UInt8], rowid: Int64, id: String, timestamp: String, cluster: String) throws {
        let previous = try head(cluster)
        let hash = ChainHash.next(previous.hash, cluster: cluster, id: id, timestamp: timestamp, rowHash: rowHash)
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO kubetrail_audit_chain (cluster, row_rowid, tp_id, tp_timestamp, row_hash, chain_hash) VALUES (?, ?, ?, ?, ?, ?)
                """)
        // Bound through the C API, as the row itself is: GRDB's argument arrays cost a third of
        // the insert rate here.
        let h = insert.sqliteStatement
        sqlite3_reset(h)
        func text(_ i: Int32, _ s: String) { bindText(h, i, s) }
        text(1, cluster)
        sqlite3_bind_int64(h, 2, rowid)
        text(3, id)
        text(4, timestamp)
        rowHash.withUnsafeBytes { _ = sqlite3_bind_blob(h, 5, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT_SWIFT) }
        hash.withUnsafeBytes { _ = sqlite3_bind_blob(h, 6, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT_SWIFT) }
        let rc = sqlite3_step(h)
        sqlite3_reset(h)
        guard rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
        heads[cluster] = ChainHeads.Head(seq: sqlite3_last_insert_rowid(db.sqliteConnection), hash: hash)
    }

    /// The stored head of `cluster`: its newest entry, or, when retention pruned every entry, the
    /// head of the digest it was pruned back to; nil for a chain never begun.
    static func storedHead(_ db: Database, cluster: String) throws -> ChainHeads.Head? {
        if let r = try Row.fetchOne(
            db, sql: "SELECT seq, chain_hash FROM kubetrail_audit_chain WHERE cluster = ? ORDER BY seq DESC LIMIT 1", arguments: [cluster])
        {
            return ChainHeads.Head(seq: r[0], hash: Array(r[1] as Data))
        }
        return try String.fetchOne(db, sql: "SELECT document FROM kubetrail_audit_digests WHERE cluster = ? ORDER BY number DESC LIMIT 1", arguments: [cluster])
            .flatMap(head(ofDigest:))
    }

    /// The chain head a digest document signed (its `last_seq` and `head`).
    static func head(ofDigest document: String) -> ChainHeads.Head? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any],
            let seq = (object["last_seq"] as? NSNumber)?.int64Value,
            let head = object["head"] as? String, let bytes = Hex.decode(head), bytes.count == 32
        else { return nil }
        return ChainHeads.Head(seq: seq, hash: bytes)
    }

    /// The audit retention cutoff the newest digest of every cluster signed (the earliest of
    /// them), from those digests' documents; nil when there is none or one lacks it.
    static func signedRetentionCutoff(_ documents: [String]) -> Timestamp? {
        var cutoffs: [Timestamp] = []
        for document in documents {
            guard let object = try? JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any] else { return nil }
            guard let text = object["retention_cutoff"] as? String, let t = Timestamp(rfc3339: text) else { return nil }
            cutoffs.append(t)
        }
        return cutoffs.min()
    }

    private func head(_ cluster: String) throws -> ChainHeads.Head {
        if let h = heads[cluster] { return h }
        if let reason = known?.refusal(cluster) { throw ChainTampered(cluster: cluster, detail: reason) }
        let stored = try Self.storedHead(db, cluster: cluster)
        if let mine = known?.vouched(cluster, stored: stored), mine != stored {
            let found = stored.map { "seq \($0.seq), head \(Hex.encode($0.hash).prefix(16))…" } ?? "no entry"
            let reason = "this aggregator's last entry is seq \(mine.seq), head \(Hex.encode(mine.hash).prefix(16))…; the store's is \(found)"
            known?.refuse(cluster, because: reason)
            throw ChainTampered(cluster: cluster, detail: reason)
        }
        let h = stored ?? ChainHeads.Head(seq: 0, hash: ChainHash.genesis)
        heads[cluster] = h
        return h
    }
}
