import KubetrailTables

/// What `kubetrail import` is told the input holds.
public enum ImportKind: String, CaseIterable, Sendable {
    case audit
    case podLogs = "pod-logs"
    case events
    case resources

    public var schema: TableSchema {
        switch self {
        case .audit: return AuditLogRow.schema
        case .podLogs: return PodLogRow.schema
        case .events: return EventRow.schema
        case .resources: return ResourceRow.schema
        }
    }

    var sourceType: SourceType {
        switch self {
        case .audit: return .auditFile
        case .podLogs: return .containerFile
        case .events, .resources: return .fileImport
        }
    }
}
