import KubetrailCore
import KubetrailTables

/// Which audit rows a scan reads (`Store.scanAudit`). Each backend writes its own SQL for it:
/// the rows of a chain span are found by the chain's pointer to them, which is the row's
/// rowid on SQLite (its `tp_id` has no index there: a condition on it read the whole table on
/// every pass of continuous detection) and `tp_id` on PostgreSQL, with the partition key, so
/// each entry is looked up in its own partition and not in every day's (an audit row's
/// `tp_timestamp`, which the chain keeps, is its `stage_timestamp`).
public enum AuditScanScope: Sendable, Equatable {
    /// Rows whose `tp_timestamp` is in [from, to); an end that is nil is open.
    case time(from: Timestamp?, to: Timestamp?)
    /// The rows `cluster`'s audit chain committed after entry `after`, through entry `through`.
    case chain(cluster: String, after: Int64, through: Int64)

    public static let all = AuditScanScope.time(from: nil, to: nil)

    /// The conditions over `kubernetes_audit_logs` as queries see it (for SQL a user can run).
    public var overView: [String] { conditions(chainRow: "tp_id", pointer: "tp_id") }

    /// SQL conditions over the audit rows; `chainRow` is the audit row's column the chain's
    /// `pointer` column holds.
    func conditions(chainRow: String, pointer: String) -> [String] {
        switch self {
        case .time(let from, let to):
            var range: [String] = []
            if let from { range.append("tp_timestamp >= \(PostgresSchema.literal(from.iso8601))") }
            if let to { range.append("tp_timestamp < \(PostgresSchema.literal(to.iso8601))") }
            return range
        case .chain(let cluster, let after, let through):
            return [
                "\(chainRow) IN (SELECT \(pointer) FROM kubetrail_audit_chain WHERE cluster = \(PostgresSchema.literal(cluster)) AND seq > \(after) AND seq <= \(through))"
            ]
        }
    }
}
