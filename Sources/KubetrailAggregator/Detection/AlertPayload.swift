import KubetrailCore
import KubetrailTables

/// One stored finding as the alert sinks send it (read back from `kubernetes_detections`).
struct StoredFinding: Equatable {
    var id: String
    var seq: Int64
    var ruleID: String
    var ruleTitle: String
    var ruleAuthor: String?
    var severity: String
    var mitre: [String]
    var auditID: String?
    var stage: String?
    var eventTime: String
    var userName: String?
    var verb: String?
    var resource: String?
    var namespace: String?
    var name: String?
    var sourceIPs: [String]
    var cluster: String?
    var detectedAt: String

    static let columns = [
        "tp_id", "detection_seq", "rule_id", "rule_title", "rule_author", "severity", "mitre", "audit_id", "stage", "event_time",
        "user_name", "verb", "resource", "namespace", "name", "source_ips", "tp_index", "detected_at"
    ]

    /// What the request was, in words: `alice create pods/exec default/web-1 from 10.0.0.7`.
    var summary: String {
        var s = "\(userName ?? "someone") \(verb ?? "?") \(resource ?? "?")"
        if let name { s += " " + (namespace.map { $0 + "/" } ?? "") + name } else if let namespace { s += " in " + namespace }
        if !sourceIPs.isEmpty { s += " from " + sourceIPs.joined(separator: ", ") }
        return s
    }
}

/// The bodies each kind of sink is sent.
enum AlertPayload {
    /// Alertmanager's `POST /api/v2/alerts`: one alert per finding, the finding id among its
    /// labels so two findings are two alerts (and a re-send is the same one). `endsAt` an hour
    /// after it is sent (a finding is an event, not a state that resolves), so one sent late,
    /// after an outage or behind the rate limit, still arrives firing.
    static func alertmanager(_ findings: [StoredFinding], sentAt: Timestamp = .now) -> String {
        JSONText.arrayOfObjects(
            findings.map { f in
                var labels: [(String, String)] = [
                    ("alertname", "KubetrailDetection"), ("rule", f.ruleTitle), ("rule_id", f.ruleID),
                    ("severity", f.severity), ("finding_id", f.id)
                ]
                if let c = f.cluster { labels.append(("cluster", c)) }
                if let n = f.namespace { labels.append(("namespace", n)) }
                if let u = f.userName { labels.append(("user", u)) }
                var annotations: [(String, String)] = [("summary", "\(f.ruleTitle): \(f.summary)"), ("event_time", f.eventTime)]
                if let a = f.auditID { annotations.append(("audit_id", a)) }
                if !f.mitre.isEmpty { annotations.append(("mitre", f.mitre.joined(separator: ", "))) }
                if let author = f.ruleAuthor { annotations.append(("rule_author", author)) }
                let starts = Timestamp(rfc3339: f.detectedAt) ?? .now
                return [
                    ("labels", JSONText.object(labels)), ("annotations", JSONText.object(annotations)),
                    ("startsAt", JSONText.string(starts.iso8601)), ("endsAt", JSONText.string(sentAt.adding(microseconds: 3_600_000_000).iso8601))
                ]
            })
    }

    /// A generic webhook: `{"findings": [ … ]}`, each finding with the table's columns.
    static func webhook(_ findings: [StoredFinding]) -> String {
        "{\"findings\":"
            + JSONText.arrayOfObjects(
                findings.map { f in
                    func opt(_ s: String?) -> String { s.map(JSONText.string) ?? "null" }
                    return [
                        ("finding_id", JSONText.string(f.id)), ("detection_seq", String(f.seq)), ("rule_id", JSONText.string(f.ruleID)),
                        ("rule_title", JSONText.string(f.ruleTitle)), ("rule_author", opt(f.ruleAuthor)), ("severity", JSONText.string(f.severity)),
                        ("mitre", JSONText.array(f.mitre)), ("audit_id", opt(f.auditID)), ("stage", opt(f.stage)),
                        ("event_time", JSONText.string(f.eventTime)), ("user_name", opt(f.userName)), ("verb", opt(f.verb)),
                        ("resource", opt(f.resource)), ("namespace", opt(f.namespace)), ("name", opt(f.name)),
                        ("source_ips", JSONText.array(f.sourceIPs)), ("cluster", opt(f.cluster)), ("detected_at", JSONText.string(f.detectedAt))
                    ]
                }) + "}"
    }
}

extension JSONText {
    /// `[{…}, …]` from objects given as (key, JSON value text) pairs.
    static func arrayOfObjects(_ objects: [[(String, String)]]) -> String {
        "[" + objects.map { pairs in "{" + pairs.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}" }.joined(separator: ",") + "]"
    }
}
