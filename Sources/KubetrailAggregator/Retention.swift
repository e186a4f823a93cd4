import Foundation
import KubetrailStore
import KubetrailTables
import Logging
import Metrics

/// Deletes rows older than each table's maximum age, in small transactions so ingest commits
/// never wait behind one long delete.
final class Retention: @unchecked Sendable {
    let store: any Store
    let maxAge: [String: Double]  // table name → seconds
    let interval: Double
    let chunk: Int
    let logger: Logger

    init(store: any Store, maxAge: [String: Double], interval: Double, chunk: Int = 5000, logger: Logger) {
        self.store = store
        self.maxAge = maxAge
        self.interval = interval
        self.chunk = chunk
        self.logger = logger
    }

    private var thread: PeriodicThread?

    /// Sweeps on its own thread: deletes are blocking SQLite work, kept off Swift's shared threads.
    func start() {
        thread = PeriodicThread(name: "kubetrail-retention", interval: interval) { [self] in sweep() }
    }

    func stop() { thread?.stop() }

    /// Batch ids older than this are forgotten: no agent resends a batch two weeks later.
    static let batchIDRetention: Double = 14 * 86_400

    /// One pass over every table; returns rows deleted per table.
    @discardableResult
    func sweep(now: Timestamp = .now) -> [String: Int] {
        var deleted: [String: Int] = [:]
        let batchCutoff = now.adding(microseconds: -Int64(Self.batchIDRetention * 1_000_000))
        _ = try? store.write { try $0.forgetBatches(committedBefore: batchCutoff) }
        // Followers resume by cursor within the journal's window; past it they start again by time.
        let journalCutoff = now.adding(microseconds: -ChangeJournal.keptSeconds * 1_000_000)
        do {
            while try store.write({ try $0.pruneChanges(olderThan: journalCutoff, limit: chunk) }) > 0 {}
        } catch {
            logger.error("change journal prune failed", metadata: ["error": "\(error)"])
        }
        for (table, seconds) in maxAge.sorted(by: { $0.key < $1.key }) {
            guard let schema = KubernetesTables.schema(named: table) else { continue }
            var cutoff = now.adding(microseconds: -Int64(seconds * 1_000_000))
            let audit = schema.name == AuditLogRow.schema.name
            if audit {
                // Audit rows go only as far as a signed digest allows (docs/integrity.md), so a
                // verifier never sees a row missing that no digest excused.
                guard let signed = try? store.write({ try $0.signedAuditRetentionCutoff() }) else { continue }
                cutoff = min(cutoff, signed)
            }
            var total = 0
            var failed = false
            do {
                while true {
                    let n = try store.write { try $0.deleteOlder(in: schema, than: cutoff, limit: chunk) }
                    total += n
                    if n < chunk { break }
                }
            } catch {
                failed = true
                logger.error("retention delete failed", metadata: ["table": "\(table)", "error": "\(error)"])
            }
            if total > 0 {
                Counter(label: "kubetrail_retention_deleted_rows_total", dimensions: [("table", table)]).increment(by: total)
                logger.info("retention", metadata: ["table": "\(table)", "deleted": "\(total)", "older_than": "\(cutoff.iso8601)"])
            }
            deleted[table] = total
            if audit && !failed {
                // The chain's beginning goes with its rows, back to a digest (its signed head
                // anchors verification from then on); not when rows it covers may remain.
                do { _ = try store.write { try $0.pruneAuditChain(olderThan: cutoff) } } catch {
                    logger.error("audit chain prune failed", metadata: ["error": "\(error)"])
                }
            }
        }
        return deleted
    }
}
