import Foundation
import KubetrailCore
import KubetrailStore

/// `kubetrail report`: what an auditor asks about a period, from `kubernetes_audit_logs` — the
/// README's three security queries, exec/attach into pods, RBAC changes, anonymous requests
/// and impersonation — with activity over time and, for a local store, the audit trail's
/// integrity. Rendered as Markdown or self-contained HTML (`ReportMarkdown`, `ReportHTML`).
public struct ComplianceReport: Sendable {
    public struct Section: Sendable {
        public var title: String
        public var why: String
        public var condition: String
        public var columns: [String]
        public var total = 0
        public var rows: [[String]] = []
        public var topUsers: [(user: String, count: Int)] = []
    }

    public struct Bucket: Sendable {
        public var label: String
        public var requests: Int
        public var denied: Int
    }

    public var from: Timestamp
    public var to: Timestamp
    public var generatedAt: Timestamp
    public var source: String
    public var clusters: [String] = []
    public var totalEvents = 0
    public var distinctUsers = 0
    public var deniedEvents = 0
    public var bucketUnit = "hour"
    public var activity: [Bucket] = []
    public var sections: [Section] = ComplianceReport.standardSections
    /// One line per cluster from `kubetrail verify`, when the store was local.
    public var integrity: [String]?
    public var integrityProblems: [String] = []
    /// Different events stored under one auditID and stage (one of each pair is forged).
    public var conflicts: [String] = []
    /// The aggregator's findings in the period (`kubernetes_detections`); nil when the store has
    /// no such table (made by a kubetrail before continuous detection).
    public var detections: Detections?

    public struct Detections: Sendable {
        public var total = 0
        /// (severity, count), most severe first.
        public var bySeverity: [(severity: String, count: Int)] = []
        /// (rule title, severity, count), most frequent first.
        public var byRule: [(rule: String, severity: String, count: Int)] = []
        public static let columns = ["event_time", "severity", "rule_title", "user_name", "verb", "resource", "namespace", "name"]
        /// The most recent findings, `columns` each.
        public var rows: [[String]] = []
        public static let severityOrder = "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END"
    }

    static let when = ["stage_timestamp", "user_name"]

    public static let standardSections: [Section] = [
        Section(
            title: "Failed authentication and authorization",
            why: "Requests answered 401 (not authenticated) or 403 (forbidden): probing, stolen or expired credentials, missing RBAC.",
            condition: "response_code IN (401, 403)",
            columns: ["stage_timestamp", "user_name", "source_ips", "verb", "request_uri", "response_code"]),
        Section(
            title: "Secret access",
            why: "Reads of Secrets (get, list, watch): who could see credentials.",
            condition: "resource = 'secrets' AND verb IN ('get', 'list', 'watch')",
            columns: ["stage_timestamp", "user_name", "verb", "namespace", "name", "response_code"]),
        Section(
            title: "Administrative actions by people",
            why: "Changes (create, update, patch, delete) made by users that are not system components.",
            condition: "verb IN ('create', 'update', 'patch', 'delete', 'deletecollection') AND user_name NOT LIKE 'system:%'",
            columns: ["stage_timestamp", "user_name", "verb", "resource", "namespace", "name", "response_code"]),
        Section(
            title: "Exec, attach and port-forward into pods",
            why: "Interactive access to running containers bypasses the deployment pipeline.",
            condition: "resource = 'pods' AND subresource IN ('exec', 'attach', 'portforward')",
            columns: ["stage_timestamp", "user_name", "subresource", "namespace", "name", "request_uri", "response_code"]),
        Section(
            title: "RBAC changes",
            why: "Roles, ClusterRoles and their bindings created, changed or deleted: who granted what.",
            condition: "api_group = 'rbac.authorization.k8s.io' AND verb IN ('create', 'update', 'patch', 'delete', 'deletecollection')",
            columns: ["stage_timestamp", "user_name", "verb", "resource", "namespace", "name", "response_code"]),
        Section(
            title: "Anonymous requests",
            why: "Requests no authenticator claimed (system:anonymous); should be none or only health checks.",
            condition: "(user_name = 'system:anonymous' OR \(Self.listHolds("user_groups", "system:unauthenticated")))",
            columns: ["stage_timestamp", "source_ips", "verb", "request_uri", "response_code"]),
        Section(
            title: "Impersonation",
            why: "Requests made on behalf of another user (Impersonate-User): who acted as whom.",
            condition: "impersonated_user_name IS NOT NULL",
            columns: ["stage_timestamp", "user_name", "impersonated_user_name", "verb", "resource", "namespace", "name", "response_code"])
    ]

    public init(from: Timestamp, to: Timestamp, generatedAt: Timestamp = .now, source: String) {
        self.from = from
        self.to = to
        self.generatedAt = generatedAt
        self.source = source
    }

    /// The SQL that selects a section's rows (shown in the report, so anyone can rerun it): one
    /// row per request, its latest stage (a request is stored once per stage it reached, and
    /// a stage kubetrail does not know ranks lowest but is still listed). Plain SQL, without
    /// SQLite's rowid.
    public func sql(_ s: Section) -> String {
        """
        SELECT \(s.columns.joined(separator: ", ")) FROM kubernetes_audit_logs
        WHERE \(rangeCondition) AND \(s.condition) AND tp_id IN (
          SELECT substr(max(CASE stage WHEN 'RequestReceived' THEN '1' WHEN 'ResponseStarted' THEN '2' WHEN 'ResponseComplete' THEN '3' WHEN 'Panic' THEN '4' ELSE '0' END || tp_id), 2)
          FROM kubernetes_audit_logs WHERE \(rangeCondition) AND \(s.condition) GROUP BY audit_id)
        ORDER BY stage_timestamp DESC
        """
    }

    /// "The list column holds this element", in SQL both backends run alike: the list as text
    /// is a JSON array on SQLite (`["a","b"]`) and an array literal on PostgreSQL (`{a,b}`), so
    /// the element is matched with either one's delimiters around it.
    static func listHolds(_ column: String, _ element: String) -> String {
        let text = "CAST(\(column) AS TEXT)"
        return "("
            + ["\"\(element)\"", "{\(element)}", "{\(element),", ",\(element)}", ",\(element),"]
            .map { "\(text) LIKE '%\($0)%'" }.joined(separator: " OR ") + ")"
    }

    /// On the indexed time column (the same instant as tp_timestamp).
    var rangeCondition: String { "stage_timestamp >= '\(from.iso8601)' AND stage_timestamp < '\(to.iso8601)'" }
}
