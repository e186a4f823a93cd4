/// `kubernetes_detections`: one row per finding of the aggregator's continuous detection (a
/// rule matching a committed audit row), with the audit row's who/what/where beside it.
public struct DetectionRow: TableRow, Equatable {
    public var common: CommonFields
    public var ruleID: String
    public var ruleTitle: String
    public var ruleAuthor: String?
    public var severity: String
    public var mitre: [String]
    public var auditRowID: String
    public var auditID: String?
    public var stage: String?
    public var eventTime: Timestamp
    public var userName: String?
    public var verb: String?
    public var resource: String?
    public var namespace: String?
    public var name: String?
    public var sourceIPs: [String]
    /// The order findings were committed in (one writer makes them): what alert sinks resume from.
    public var detectionSeq: Int64
    public var detectedAt: Timestamp

    public static let tableName = "kubernetes_detections"

    public static let schema = TableSchema(
        name: tableName,
        description: "Findings of the aggregator's continuous detection: a rule (Sigma) that matched a committed audit row, one row per rule and audit row.",
        columns: CommonFields.columns + [
            Column("rule_id", .text, "The rule's id (a SigmaHQ rule keeps its own).", notNull: true),
            Column("rule_title", .text, "The rule's title.", notNull: true),
            Column("rule_author", .text, "The rule's author (kept with every finding, as SigmaHQ's licence asks)."),
            Column("severity", .text, "informational, low, medium, high or critical.", notNull: true),
            Column("mitre", .list, "MITRE ATT&CK tactic and technique ids."),
            Column("audit_row_id", .text, "The audit row's tp_id in kubernetes_audit_logs.", notNull: true),
            Column("audit_id", .text, "The audit event's auditID."),
            Column("stage", .text, "The audit row's stage."),
            Column("event_time", .timestamp, "The audit row's stage_timestamp.", notNull: true),
            Column("user_name", .text, "Who made the request."),
            Column("verb", .text, "The request's verb."),
            Column("resource", .text, "The object's resource."),
            Column("namespace", .text, "The object's namespace."),
            Column("name", .text, "The object's name."),
            Column("source_ips", .list, "The request's source addresses."),
            Column("detection_seq", .int, "The order findings were committed in.", notNull: true),
            Column("detected_at", .timestamp, "When the aggregator found it.", notNull: true)
        ],
        timeColumn: "event_time",
        indexes: [["event_time"], ["detection_seq"], ["rule_id", "event_time"]],
        conflict: .keepExisting)

    /// A finding's id: the same rule on the same audit row is one finding, however often it is
    /// evaluated (a restart between commit and evaluation evaluates again).
    public static func id(ruleID: String, auditRowID: String) -> String {
        SHA256Hex.digest(Array((ruleID + "\u{0}" + auditRowID).utf8), hexDigits: 32)
    }

    public init(
        ruleID: String, ruleTitle: String, ruleAuthor: String?, severity: String, mitre: [String], auditRowID: String,
        auditID: String?, stage: String?, eventTime: Timestamp, userName: String?, verb: String?, resource: String?,
        namespace: String?, name: String?, sourceIPs: [String], cluster: String?, detectionSeq: Int64, detectedAt: Timestamp
    ) {
        common = CommonFields(
            id: Self.id(ruleID: ruleID, auditRowID: auditRowID), timestamp: eventTime, table: Self.tableName,
            context: IngestContext(clusterName: cluster, sourceType: .detection, sourceName: "kubetrail", ingestTimestamp: detectedAt))
        common.usernames = userName.map { [$0] } ?? []
        common.ips = sourceIPs
        common.sourceIP = sourceIPs.first
        self.ruleID = ruleID
        self.ruleTitle = ruleTitle
        self.ruleAuthor = ruleAuthor
        self.severity = severity
        self.mitre = mitre
        self.auditRowID = auditRowID
        self.auditID = auditID
        self.stage = stage
        self.eventTime = eventTime
        self.userName = userName
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.sourceIPs = sourceIPs
        self.detectionSeq = detectionSeq
        self.detectedAt = detectedAt
    }

    public var values: [ColumnValue] {
        var v: [ColumnValue] = []
        v.reserveCapacity(40)
        common.append(to: &v)
        v.append(.text(ruleID))
        v.append(.text(ruleTitle))
        v.append(.text(ruleAuthor))
        v.append(.text(severity))
        v.append(.nonEmptyList(mitre))
        v.append(.text(auditRowID))
        v.append(.text(auditID))
        v.append(.text(stage))
        v.append(.timestamp(eventTime))
        v.append(.text(userName))
        v.append(.text(verb))
        v.append(.text(resource))
        v.append(.text(namespace))
        v.append(.text(name))
        v.append(.nonEmptyList(sourceIPs))
        v.append(.int(detectionSeq))
        v.append(.timestamp(detectedAt))
        return v
    }
}
