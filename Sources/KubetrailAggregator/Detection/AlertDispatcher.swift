import Foundation
import KubetrailCore
import KubetrailCurl
import KubetrailDetect
import KubetrailStore
import KubetrailTables
import Logging
import Metrics

/// Sends one sink the findings committed to `kubernetes_detections`, in commit order, from a
/// cursor saved after each acknowledged request: grouped (`batchSize` per request), at most
/// `maxPerMinute`, retried with backoff (1 s doubling to 30 s) while the sink is down. The
/// findings wait in the table, not in memory, and this thread is the only one that waits on
/// the sink: ingest and detection never do.
final class AlertDispatcher: @unchecked Sendable {
    let sink: AlertSinkSettings
    let store: any Store
    let logger: Logger
    private var thread: PeriodicThread?
    private var client: CurlHTTPClient?
    private var notBefore = Date.distantPast
    private var backoff = 0.0
    private var failing = false
    /// Token bucket for `maxPerMinute`.
    private var tokens: Double
    private var refilled = Date()

    init(sink: AlertSinkSettings, store: any Store, logger: Logger) {
        self.sink = sink
        self.store = store
        self.logger = logger
        tokens = Double(sink.maxPerMinute)
    }

    var cursorName: String { "alerts:\(sink.kind.rawValue):\(sink.name)" }

    func start() {
        thread = PeriodicThread(name: "kubetrail-alerts-\(sink.name)", interval: 0.5) { [self] in tick() }
    }

    func stop() { thread?.stop() }

    /// One look at the table; sends until nothing is left, the rate limit is reached or the sink fails.
    func tick() {
        guard Date() >= notBefore else { return }
        do {
            let client = try self.client ?? makeClient()
            self.client = client
            while try sendBatch(client) {}
        } catch {
            Counter(label: "kubetrail_alert_failures_total", dimensions: [("sink", sink.name)]).increment()
            backoff = min(30, max(1, backoff * 2))
            // A `Retry-After` the sink asked for stands when it is longer than the backoff.
            notBefore = max(notBefore, Date().addingTimeInterval(backoff))
            if !failing {
                logger.error(
                    "cannot send alerts; the findings wait in kubernetes_detections and are sent when it answers",
                    metadata: ["sink": "\(sink.name)", "error": "\(error)"])
            }
            failing = true
        }
    }

    private func makeClient() throws -> CurlHTTPClient {
        var options = CurlHTTPClient.Options(caFile: sink.caFile)
        options.timeout = sink.timeout
        return try CurlHTTPClient(options: options)
    }

    /// True when it sent a full batch and more may be waiting.
    private func sendBatch(_ client: CurlHTTPClient) throws -> Bool {
        let after = try cursor()
        refill()
        let room = Int(tokens)
        guard room > 0 else { return false }
        let rows = try pending(after: after, limit: min(sink.batchSize, room))
        guard let last = rows.last?.seq else { return false }
        let send = rows.filter { (Severity(rawValue: $0.severity) ?? .informational) >= sink.minSeverity }
        if !send.isEmpty {
            let body = sink.kind == .alertmanager ? AlertPayload.alertmanager(send) : AlertPayload.webhook(send)
            var headers = [("Content-Type", "application/json")]
            if let file = sink.bearerTokenFile {
                guard let token = try? String(contentsOfFile: file, encoding: .utf8).split(whereSeparator: \.isNewline).first.map(String.init) else {
                    throw AlertError("cannot read the bearer token file \(file)")
                }
                headers.append(("Authorization", "Bearer \(token)"))
            }
            let response = try client.post(url, body: Array(body.utf8), headers: headers)
            switch response.status {
            case 200..<300:
                Counter(label: "kubetrail_alerts_sent_total", dimensions: [("sink", sink.name)]).increment(by: send.count)
            case 400, 413, 422:
                // The sink will never take this request: said, counted, and passed over, or
                // every later finding would wait behind it for ever.
                Counter(label: "kubetrail_alerts_dropped_total", dimensions: [("sink", sink.name)]).increment(by: send.count)
                logger.error(
                    "the alert sink refused findings for good; they stay in kubernetes_detections",
                    metadata: [
                        "sink": "\(sink.name)", "status": "\(response.status)", "reply": "\(response.text.prefix(300))",
                        "findings": "\(send.map(\.id).joined(separator: ","))"
                    ])
            default:
                if let wait = response.retryAfter { notBefore = Date().addingTimeInterval(min(wait, 300)) }
                throw AlertError("\(sink.url) answered \(response.status): \(response.text.prefix(200))")
            }
            tokens -= Double(send.count)
        }
        try store.write { try $0.setCursor(cursorName, String(last)) }
        if failing { logger.notice("alerts are sent again", metadata: ["sink": "\(sink.name)"]) }
        failing = false
        backoff = 0
        return rows.count == min(sink.batchSize, room)
    }

    private var url: String {
        guard sink.kind == .alertmanager else { return sink.url }
        return sink.url.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/api/v2/alerts"
    }

    private func refill() {
        let now = Date()
        tokens = min(Double(sink.maxPerMinute), tokens + now.timeIntervalSince(refilled) * Double(sink.maxPerMinute) / 60)
        refilled = now
    }

    /// Where this sink is: the last finding it acknowledged. A new sink starts at the newest
    /// finding (it is not sent the table's history).
    private func cursor() throws -> Int64 {
        if let saved = try store.read({ try $0.cursor(cursorName) }), let seq = Int64(saved) { return seq }
        let newest = try DetectionService.lastDetectionSeq(store)
        try store.write { try $0.setCursor(cursorName, String(newest)) }
        return newest
    }

    private func pending(after seq: Int64, limit: Int) throws -> [StoredFinding] {
        final class Rows: QuerySink {
            var rows: [StoredFinding] = []
            func begin(columns: [QueryColumn]) {}
            func row(_ v: [QueryValue]) {
                func text(_ i: Int) -> String? { if case .text(let s) = v[i] { return s } else { return nil } }
                func list(_ i: Int) -> [String] { text(i).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] } ?? [] }
                guard case .int(let seq) = v[1] else { return }
                rows.append(
                    StoredFinding(
                        id: text(0) ?? "", seq: seq, ruleID: text(2) ?? "", ruleTitle: text(3) ?? "", ruleAuthor: text(4),
                        severity: text(5) ?? "", mitre: list(6), auditID: text(7), stage: text(8), eventTime: text(9) ?? "",
                        userName: text(10), verb: text(11), resource: text(12), namespace: text(13), name: text(14),
                        sourceIPs: list(15), cluster: text(16), detectedAt: text(17) ?? ""))
            }
            func end() {}
        }
        let r = Rows()
        try store.query(
            "SELECT \(StoredFinding.columns.joined(separator: ", ")) FROM kubernetes_detections WHERE detection_seq > \(seq) ORDER BY detection_seq LIMIT \(limit)",
            into: r)
        return r.rows
    }
}

struct AlertError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
