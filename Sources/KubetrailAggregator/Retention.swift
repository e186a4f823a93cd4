import Foundation
import KubetrailStore
import KubetrailTables
import Logging
import Metrics

/// Deletes rows older than each table's maximum age, in small transactions so ingest commits
/// never wait behind one long delete.
final class Retention: @unchecked Sendable {
    let store: SQLiteStore
    let maxAge: [String: Double]   // table name → seconds
    let interval: Double
    let chunk: Int
    let logger: Logger

    init(store: SQLiteStore, maxAge: [String: Double], interval: Double, chunk: Int = 5000, logger: Logger) {
        self.store = store
        self.maxAge = maxAge
        self.interval = interval
        self.chunk = chunk
        self.logger = logger
    }

    func run() async {
        guard !maxAge.isEmpty else { return }
        while !Task.isCancelled {
            sweep()
            try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
        }
    }

    /// One pass over every table; returns rows deleted per table.
    @discardableResult
    func sweep(now: Timestamp = .now) -> [String: Int] {
        var deleted: [String: Int] = [:]
        for (table, seconds) in maxAge.sorted(by: { $0.key < $1.key }) {
            guard let schema = KubernetesTables.schema(named: table) else { continue }
            let cutoff = now.adding(microseconds: -Int64(seconds * 1_000_000))
            var total = 0
            do {
                while true {
                    let n = try store.write { try $0.deleteOlder(in: schema, than: cutoff, limit: chunk) }
                    total += n
                    if n < chunk { break }
                }
            } catch {
                logger.error("retention delete failed", metadata: ["table": "\(table)", "error": "\(error)"])
            }
            if total > 0 {
                Counter(label: "kubetrail_retention_deleted_rows_total", dimensions: [("table", table)]).increment(by: total)
                logger.info("retention", metadata: ["table": "\(table)", "deleted": "\(total)", "older_than": "\(cutoff.iso8601)"])
            }
            deleted[table] = total
        }
        return deleted
    }
}
