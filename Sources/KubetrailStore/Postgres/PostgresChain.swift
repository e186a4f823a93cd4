import Foundation
import KubetrailTables

/// The audit chain's reads on PostgreSQL, shared by the store (outside a transaction) and its
/// transactions. An entry finds its row by (`tp_id`, time): the audit table's key.
enum PostgresChain {
    static let auditColumns = AuditLogRow.schema.columns.map { "a." + quoteIdentifier($0.name) }.joined(separator: ", ")
    /// The row an entry covers, when it is still stored and no later entry claims it (a row
    /// that came back after retention is a new commit with an entry of its own).
    static let entryJoin = """
        LEFT JOIN kubernetes_audit_logs a ON a.tp_id = c.tp_id AND a.stage_timestamp = c.tp_timestamp::timestamptz
          AND NOT EXISTS (SELECT 1 FROM kubetrail_audit_chain d WHERE d.tp_id = c.tp_id AND d.tp_timestamp = c.tp_timestamp AND d.seq > c.seq)
        """

    static func storedHead(_ c: PostgresConnection, cluster: String) throws -> ChainHeads.Head? {
        if let r = try c.execute("SELECT seq, chain_hash FROM kubetrail_audit_chain WHERE cluster = $1 ORDER BY seq DESC LIMIT 1", [cluster]).rows.first,
            let seq = r[0].flatMap({ Int64($0) }), let hash = r[1].flatMap(bytea)
        {
            return ChainHeads.Head(seq: seq, hash: hash)
        }
        return try c.execute("SELECT document FROM kubetrail_audit_digests WHERE cluster = $1 ORDER BY number DESC LIMIT 1", [cluster])
            .rows.first?[0].flatMap(AuditChain.head(ofDigest:))
    }

    /// The hash stored for `cluster`'s entry `seq`, nil when there is none.
    static func entryHash(_ c: PostgresConnection, cluster: String, seq: Int64) throws -> [UInt8]? {
        try c.execute("SELECT chain_hash FROM kubetrail_audit_chain WHERE cluster = $1 AND seq = $2", [cluster, String(seq)]).rows.first?[0].flatMap(bytea)
    }

    static func bytea(_ text: String) -> [UInt8]? {
        guard text.hasPrefix("\\x") else { return nil }
        return Hex.decode(String(text.dropFirst(2)))
    }

    static func clusters(_ c: PostgresConnection) throws -> [String] {
        try c.execute("SELECT cluster FROM kubetrail_audit_chain UNION SELECT cluster FROM kubetrail_audit_digests ORDER BY 1").rows.compactMap { $0[0] }
    }

    static func digest(_ r: [String?]) -> StoredDigest {
        StoredDigest(cluster: r[0] ?? "", number: Int(r[1] ?? "0") ?? 0, createdAt: r[2] ?? "", lastSeq: r[3].flatMap { Int64($0) }, document: r[4] ?? "")
    }

    static let digestColumns = "cluster, number, created_at, last_seq, document"

    static func lastDigest(_ c: PostgresConnection, cluster: String) throws -> StoredDigest? {
        try c.execute("SELECT \(digestColumns) FROM kubetrail_audit_digests WHERE cluster = $1 ORDER BY number DESC LIMIT 1", [cluster]).rows.first.map(digest)
    }

    static func span(_ c: PostgresConnection, cluster: String, after seq: Int64) throws -> ChainSpan {
        let r = try c.execute(
            """
            SELECT count(*), min(seq), max(seq), min(tp_timestamp), max(tp_timestamp) FROM kubetrail_audit_chain WHERE cluster = $1 AND seq > $2
            """, [cluster, String(seq)]
        ).rows[0]
        var span = ChainSpan(
            count: Int(r[0] ?? "0") ?? 0, firstSeq: r[1].flatMap { Int64($0) }, lastSeq: r[2].flatMap { Int64($0) },
            firstTimestamp: r[3], lastTimestamp: r[4])
        if let last = span.lastSeq { span.head = try entryHash(c, cluster: cluster, seq: last) }
        return span
    }

    static func signedRetentionCutoff(_ c: PostgresConnection) throws -> Timestamp? {
        let documents = try c.execute(
            """
            SELECT document FROM kubetrail_audit_digests d WHERE number = (SELECT max(number) FROM kubetrail_audit_digests WHERE cluster = d.cluster)
            """
        ).rows.compactMap { $0[0] }
        return AuditChain.signedRetentionCutoff(documents)
    }

    static func walk(_ c: PostgresConnection, cluster: String, after seq: Int64, through last: Int64, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws
    {
        var types: [UInt32] = []
        try c.stream(
            """
            SELECT c.seq, c.cluster, c.tp_id, c.tp_timestamp, c.row_hash, c.chain_hash, a.tp_id IS NOT NULL, \(auditColumns)
            FROM kubetrail_audit_chain c \(entryJoin)
            WHERE c.cluster = $1 AND c.seq > $2 AND c.seq <= $3 ORDER BY c.seq
            """, [cluster, String(seq), String(last)], begin: { types = $0.map(\.type) },
            row: { r in
                let entry = ChainEntry(
                    seq: r.int(0) ?? 0, cluster: r.text(1) ?? "", id: r.text(2) ?? "", timestamp: r.text(3) ?? "",
                    rowHash: r.text(4).flatMap(bytea) ?? [], chainHash: r.text(5).flatMap(bytea) ?? [])
                let present = r.text(6) == "t"
                try body(entry, present ? (7..<r.count).map { PostgresValues.value(r, $0, type: types[$0]) } : nil)
            })
    }

    /// The stored audit row `id` (at `timestamp`), as the chain hashed it.
    static func auditValues(_ c: PostgresConnection, id: String, timestamp: String) throws -> [QueryValue]? {
        var values: [QueryValue]?
        var types: [UInt32] = []
        try c.stream(
            "SELECT \(auditColumns) FROM kubernetes_audit_logs a WHERE a.tp_id = $1 AND a.stage_timestamp = $2::timestamptz",
            [id, timestamp], begin: { types = $0.map(\.type) },
            row: { r in
                values = (0..<r.count).map { PostgresValues.value(r, $0, type: types[$0]) }
            })
        return values
    }

    static func insertDigest(_ c: PostgresConnection, _ d: StoredDigest) throws {
        try c.execute(
            "INSERT INTO kubetrail_audit_digests (\(digestColumns)) VALUES ($1, $2, $3, $4, $5)",
            [d.cluster, String(d.number), d.createdAt, d.lastSeq.map(String.init), d.document])
    }

    static func prune(_ c: PostgresConnection, olderThan cutoff: Timestamp) throws -> Int {
        var removed = 0
        for cluster in try clusters(c) {
            let firstLive =
                try c.execute(
                    "SELECT min(seq) FROM kubetrail_audit_chain WHERE cluster = $1 AND tp_timestamp >= $2",
                    [cluster, cutoff.iso8601]
                ).rows[0][0].flatMap { Int64($0) } ?? Int64.max
            guard
                let through = try c.execute(
                    "SELECT max(last_seq) FROM kubetrail_audit_digests WHERE cluster = $1 AND last_seq < $2",
                    [cluster, String(firstLive)]
                ).rows[0][0].flatMap({ Int64($0) })
            else { continue }
            removed += try c.execute("DELETE FROM kubetrail_audit_chain WHERE cluster = $1 AND seq <= $2", [cluster, String(through)]).affected
        }
        return removed
    }
}
