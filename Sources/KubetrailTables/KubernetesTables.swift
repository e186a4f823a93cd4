/// The tables, in the order people meet them: the four of the contract, then the findings the
/// aggregator's continuous detection makes of the first.
public enum KubernetesTables {
    public static let all: [TableSchema] = [
        AuditLogRow.schema, PodLogRow.schema, EventRow.schema, ResourceRow.schema, DetectionRow.schema
    ]

    public static func schema(named name: String) -> TableSchema? {
        all.first { $0.name == name }
    }
}
