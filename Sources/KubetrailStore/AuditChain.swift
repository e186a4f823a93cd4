import Crypto
import Foundation
import GRDB
import GRDBSQLite
import KubetrailTables

/// The hash of one stored row: SHA-256 over its values in the table's column order, each as a
/// type tag, a length and its bytes, so no two different rows encode alike. Booleans hash as
/// the integers SQLite stores, so a row hashes the same bound and read back.
public enum RowHash {
    public static func of(_ values: [ColumnValue]) -> [UInt8] {
        var e = Encoder()
        for v in values {
            switch v {
            case .null: e.null()
            case .int(let i): e.int(i)
            case .bool(let b): e.int(b ? 1 : 0)
            case .text(let s): e.text(s)
            }
        }
        return e.digest()
    }

    public static func of(_ values: [QueryValue]) -> [UInt8] {
        var e = Encoder()
        for v in values {
            switch v {
            case .null: e.null()
            case .int(let i): e.int(i)
            case .text(let s): e.text(s)
            case .real(let d): e.tagged(3, withUnsafeBytes(of: d.bitPattern.littleEndian) { Array($0) })
            case .blob(let b): e.tagged(4, b)
            }
        }
        return e.digest()
    }

    struct Encoder {
        var bytes: [UInt8] = []
        init() { bytes.reserveCapacity(2048) }
        mutating func null() { bytes.append(0) }
        mutating func int(_ i: Int64) {
            bytes.append(1)
            withUnsafeBytes(of: i.littleEndian) { bytes.append(contentsOf: $0) }
        }
        mutating func text(_ s: String) { tagged(2, s.utf8) }
        mutating func tagged(_ tag: UInt8, _ b: some Collection<UInt8>) {
            bytes.append(tag)
            withUnsafeBytes(of: UInt32(b.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: b)
        }
        func digest() -> [UInt8] { Array(SHA256.hash(data: bytes)) }
    }
}

/// The chain: each entry's hash is SHA-256(previous entry's hash ‖ row hash), starting from 32
/// zero bytes, separately per cluster.
public enum ChainHash {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func next(_ previous: [UInt8], _ rowHash: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: previous)
        h.update(data: rowHash)
        return Array(h.finalize())
    }
}

/// Appends committed audit rows to `kubetrail_audit_chain` inside the writer's transaction, so
/// a row and its chain entry commit together or not at all.
final class AuditChain {
    let db: Database
    private var heads: [String: [UInt8]] = [:]

    init(_ db: Database) { self.db = db }

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

    func append(values: [QueryValue], id: String, timestamp: String, cluster: String) throws {
        try append(rowHash: RowHash.of(values), id: id, timestamp: timestamp, cluster: cluster)
    }

    func append(rowHash: [UInt8], id: String, timestamp: String, cluster: String) throws {
        let previous = try head(cluster)
        let hash = ChainHash.next(previous, rowHash)
        let insert = try db.cachedStatement(sql: """
            INSERT INTO kubetrail_audit_chain (cluster, tp_id, tp_timestamp, row_hash, chain_hash) VALUES (?, ?, ?, ?, ?)
            """)
        try insert.execute(arguments: [cluster, id, timestamp, Data(rowHash), Data(hash)])
        heads[cluster] = hash
    }

    private func lastDigestHead(_ cluster: String) throws -> [UInt8]? {
        guard let document = try String.fetchOne(db, sql: "SELECT document FROM kubetrail_audit_digests WHERE cluster = ? ORDER BY number DESC LIMIT 1", arguments: [cluster]),
              let object = try? JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any],
              let head = object["head"] as? String, head.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var i = head.startIndex
        while i < head.endIndex {
            let j = head.index(i, offsetBy: 2)
            guard let b = UInt8(head[i..<j], radix: 16) else { return nil }
            bytes.append(b)
            i = j
        }
        return bytes
    }

    private func head(_ cluster: String) throws -> [UInt8] {
        if let h = heads[cluster] { return h }
        let stored = try Data.fetchOne(db, sql: "SELECT chain_hash FROM kubetrail_audit_chain WHERE cluster = ? ORDER BY seq DESC LIMIT 1", arguments: [cluster])
        // Retention may have pruned every entry; the chain goes on from the head of the digest
        // it was pruned back to.
        let h = try stored.map { Array($0) } ?? lastDigestHead(cluster) ?? ChainHash.genesis
        heads[cluster] = h
        return h
    }
}
