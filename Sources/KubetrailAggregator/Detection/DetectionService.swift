import Foundation
import KubetrailDetect
import KubetrailStore
import KubetrailTables
import Logging
import Metrics

/// Evaluates the rules on every audit row as it is committed: it follows each cluster's audit
/// chain (commit order) from a cursor saved in the same transaction as the findings it made, so
/// a restart at any moment neither misses a row nor makes a finding twice (a row evaluated
/// again gives the same finding id, stored once).
final class DetectionService: @unchecked Sendable {
    let store: any Store
    let scan: DetectionScan
    let settings: DetectionSettings
    let logger: Logger
    /// Chain entries per query: bounds one evaluation's memory and transaction.
    let batchEntries: Int64 = 5_000
    private var thread: PeriodicThread?
    private var lastSeq: Int64 = 0
    /// Set by `stop`: a pass catching up on a long backlog ends at its next batch, so a leader
    /// that lost its lease stops writing before another takes over.
    private let stopping = LockedFlag()

    init(store: any Store, detections: [Detection], settings: DetectionSettings, logger: Logger) {
        self.store = store
        self.scan = DetectionScan(detections)
        self.settings = settings
        self.logger = logger
    }

    static func cursorName(cluster: String) -> String { "detection:" + cluster }

    func start() {
        // Below ingest: on a machine whose cores the commits and requests keep busy, evaluation
        // waits for a gap rather than slowing them (its cursor keeps its place); findings are
        // written through the store's one writer like any commit.
        thread = PeriodicThread(name: "kubetrail-detect", interval: settings.interval, nice: 10) { [self] in runOnce() }
    }

    func stop() {
        stopping.set()
        thread?.stop()
    }

    func runOnce() {
        let heads: [ChainHeadSummary], start: Int64
        do {
            lastSeq = try Self.lastDetectionSeq(store)
            heads = try store.chainHeads()
            start = try startSeq(heads)
        } catch {
            return failed(error, cluster: nil)
        }
        // Each cluster on its own: one that fails (its batch, its rows) holds up no other.
        for head in heads where !stopping.isSet {
            do { try evaluate(cluster: head.cluster, through: head.lastSeq, start: start) } catch { failed(error, cluster: head.cluster) }
        }
    }

    private func failed(_ error: Error, cluster: String?) {
        Counter(label: "kubetrail_detection_failures_total").increment()
        logger.error("continuous detection failed; it retries from its cursor", metadata: ["error": "\(error)", "cluster": "\(cluster ?? "-")"])
    }

    /// The last number given to a finding, kept with the findings: numbers are never reused,
    /// also after retention deleted the newest-numbered ones.
    static let seqCursor = "detection:seq"

    /// The newest finding's number (findings are numbered in commit order for the alert sinks).
    static func lastDetectionSeq(_ store: any Store) throws -> Int64 {
        final class One: QuerySink {
            var value: Int64 = 0
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) { if case .int(let v) = values[0] { value = v } }
            func end() {}
        }
        let one = One()
        try store.query("SELECT max(detection_seq) FROM kubernetes_detections", into: one)
        return one.value
    }

    /// Where a cluster without a cursor starts: the chain entry (numbered across clusters) the
    /// store's first detection began at, saved once — so "now" means from the first start on,
    /// for a cluster whose first rows arrive later too.
    private func startSeq(_ heads: [ChainHeadSummary]) throws -> Int64 {
        if let saved = try store.read({ try $0.cursor(Self.startCursor) }), let seq = Int64(saved) { return seq }
        let start = settings.fromBeginning ? 0 : heads.map(\.lastSeq).max() ?? 0
        try store.write { try $0.setCursor(Self.startCursor, String(start)) }
        logger.notice("continuous detection starts after audit chain entry \(start); `kubetrail detect --from` searches what came before")
        return start
    }

    static let startCursor = "detection:start"

    private func evaluate(cluster: String, through last: Int64, start: Int64) throws {
        let name = Self.cursorName(cluster: cluster)
        var from = start
        if let saved = try store.read({ try $0.cursor(name) }), let seq = Int64(saved) { from = seq }
        while from < last, !stopping.isSet {
            let to = min(last, from + batchEntries)
            let now = Timestamp.now
            var findings: [Finding] = []
            let reader = FindingsReader(scan.detections) { findings.append($0) }
            let started = Date()
            try scan.run(on: store, cluster: cluster, after: from, through: to, into: reader)
            var next = lastSeq
            var stored = 0
            try store.write { tx in
                next = max(lastSeq, Int64(try tx.cursor(Self.seqCursor) ?? "") ?? 0)
                stored = 0
                for f in findings {
                    let row = Self.row(f, seq: next + 1, detectedAt: now)
                    if try tx.insert(row) == .inserted {
                        next += 1
                        stored += 1
                        Counter(label: "kubetrail_detections_total", dimensions: [("severity", f.detection.severity.rawValue)]).increment()
                    }
                }
                try tx.setCursor(Self.seqCursor, String(next))
                try tx.setCursor(name, String(to))
            }
            lastSeq = next
            Metrics.Timer(label: "kubetrail_detection_pass_seconds").recordSeconds(Date().timeIntervalSince(started))
            if stored > 0 { logger.info("findings stored", metadata: ["cluster": "\(cluster)", "findings": "\(stored)"]) }
            from = to
        }
    }

    static func row(_ f: Finding, seq: Int64, detectedAt: Timestamp) -> DetectionRow {
        func text(_ c: String) -> String? { if case .text(let s) = f.value(c) { return s } else { return nil } }
        let ips = text("source_ips").flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] } ?? []
        let eventTime = text("event_time").flatMap { Timestamp(rfc3339: $0) } ?? detectedAt
        return DetectionRow(
            ruleID: f.detection.id, ruleTitle: f.detection.title, ruleAuthor: f.detection.author.isEmpty ? nil : f.detection.author,
            severity: f.detection.severity.rawValue, mitre: f.detection.mitre, auditRowID: f.auditRowID,
            auditID: text("audit_id"), stage: text("stage"), eventTime: eventTime, userName: text("user_name"),
            verb: text("verb"), resource: text("resource"), namespace: text("namespace"), name: text("name"),
            sourceIPs: ips, cluster: f.cluster, detectionSeq: seq, detectedAt: detectedAt)
    }
}

/// A flag one thread sets and others read.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
