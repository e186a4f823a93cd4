/// The four tables, in the order people meet them.
public enum KubernetesTables {
    public static let all: [TableSchema] = [
        AuditLogRow.schema, PodLogRow.schema, EventRow.schema, ResourceRow.schema,
    ]

    public static func schema(named name: String) -> TableSchema? {
        all.first { $0.name == name }
    }
}
