import Foundation
import KubetrailTables

/// The audit chain read outside a transaction (verify, export manifests, report).
extension PostgresStore {
    public func digests(cluster: String?, newest: Int?) throws -> [StoredDigest] {
        try withReader { c in
            let columns = PostgresChain.digestColumns
            guard let cluster else {
                return try c.execute("SELECT \(columns) FROM kubetrail_audit_digests ORDER BY cluster, number").rows.map(PostgresChain.digest)
            }
            let limit = newest.map { " DESC LIMIT \($0)" } ?? ""
            let rows = try c.execute("SELECT \(columns) FROM kubetrail_audit_digests WHERE cluster = $1 ORDER BY number" + limit, [cluster]).rows.map(
                PostgresChain.digest)
            return newest == nil ? rows : rows.reversed()
        }
    }

    public func chainClusters() throws -> [String] { try withReader { try PostgresChain.clusters($0) } }

    public func firstChainSeq(cluster: String) throws -> Int64? {
        try withReader { c in try c.execute("SELECT min(seq) FROM kubetrail_audit_chain WHERE cluster = $1", [cluster]).rows[0][0].flatMap { Int64($0) } }
    }

    public func chainHeads() throws -> [ChainHeadSummary] {
        try withReader { c in
            try c.execute(
                """
                SELECT c.cluster, c.seq, c.chain_hash, (SELECT count(*) FROM kubetrail_audit_chain WHERE cluster = c.cluster)
                FROM kubetrail_audit_chain c WHERE c.seq = (SELECT max(seq) FROM kubetrail_audit_chain WHERE cluster = c.cluster) ORDER BY c.cluster
                """
            ).rows.map { r in
                ChainHeadSummary(
                    cluster: r[0] ?? "", lastSeq: r[1].flatMap { Int64($0) } ?? 0, head: r[2].flatMap(PostgresChain.bytea) ?? [],
                    entries: Int(r[3] ?? "0") ?? 0)
            }
        }
    }

    public func walkAuditChain(cluster: String, after seq: Int64, through last: Int64, _ body: (ChainEntry, [QueryValue]?) throws -> Void) throws {
        try withReader { c in
            // One snapshot for the whole walk, as SQLite's read transaction gives.
            try c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? c.execute("ROLLBACK") }
            try PostgresChain.walk(c, cluster: cluster, after: seq, through: last, body)
        }
    }

    /// SQLite's 64-bit row key has no counterpart here: the primary key is `tp_id` itself
    /// (with the time), so there is no key to rewrite apart from the id.
    public func rekeyedAuditRows(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (ids: [String], total: Int) { ([], 0) }

    public func unchainedAuditRows(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (ids: [(id: String, timestamp: String)], total: Int) {
        var conditions = ["NOT EXISTS (SELECT 1 FROM kubetrail_audit_chain c WHERE c.tp_id = a.tp_id AND c.tp_timestamp::timestamptz = a.stage_timestamp)"]
        var parameters: [String?] = []
        if let from { parameters.append(from.iso8601); conditions.append("a.tp_timestamp >= $\(parameters.count)") }
        if let to { parameters.append(to.iso8601); conditions.append("a.tp_timestamp < $\(parameters.count)") }
        let whereSQL = conditions.joined(separator: " AND ")
        return try withReader { c in
            let total = Int(try c.execute("SELECT count(*) FROM kubernetes_audit_logs a WHERE \(whereSQL)", parameters).rows[0][0] ?? "0") ?? 0
            var ids: [(id: String, timestamp: String)] = []
            try c.stream(
                "SELECT a.tp_id, a.tp_timestamp FROM kubernetes_audit_logs a WHERE \(whereSQL) ORDER BY a.tp_timestamp LIMIT \(limit)", parameters,
                begin: { _ in }, row: { r in ids.append((r.text(0) ?? "", PostgresValues.timestamp(r.bytes(1)))) })
            return (ids, total)
        }
    }

    public func auditConflicts(from: Timestamp?, to: Timestamp?, limit: Int) throws -> (conflicts: [AuditConflict], total: Int) {
        var conditions: [String] = []
        var parameters: [String?] = []
        if let from { parameters.append(from.iso8601); conditions.append("received_at >= $\(parameters.count)") }
        if let to { parameters.append(to.iso8601); conditions.append("received_at < $\(parameters.count)") }
        let whereSQL = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try withReader { c in
            let total = Int(try c.execute("SELECT count(*) FROM kubetrail_audit_conflicts" + whereSQL, parameters).rows[0][0] ?? "0") ?? 0
            let rows = try c.execute(
                """
                SELECT id, tp_id, audit_id, stage, cluster, received_at, stored_source, conflicting_source, row_json
                FROM kubetrail_audit_conflicts\(whereSQL) ORDER BY id DESC LIMIT \(limit)
                """, parameters
            ).rows
            return (
                rows.map { r in
                    AuditConflict(
                        id: Int64(r[0] ?? "0") ?? 0, tpID: r[1] ?? "", auditID: r[2] ?? "", stage: r[3] ?? "", cluster: r[4] ?? "",
                        receivedAt: r[5].map { s in Array(s.utf8).withUnsafeBytes { PostgresValues.timestamp($0) } } ?? "",
                        storedSource: r[6] ?? "", conflictingSource: r[7] ?? "", row: r[8] ?? "")
                }, total
            )
        }
    }
}
