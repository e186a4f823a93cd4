import Testing
@testable import KubetrailDetect
import KubetrailTables

/// The documented field mapping: each Sigma field of an audit event names a real column.
@Suite struct AuditFieldMappingTests {
    @Test func fieldsNameColumnsAndJSONPaths() {
        #expect(AuditField.resolve("verb") == .text(column: "verb"))
        #expect(AuditField.resolve("objectRef.subresource") == .text(column: "subresource"))
        #expect(AuditField.resolve("responseStatus.code") == .integer(column: "response_code"))
        #expect(AuditField.resolve("sourceIPs") == .list(column: "source_ips"))
        #expect(AuditField.resolve("user.groups") == .list(column: "user_groups"))
        #expect(AuditField.resolve("annotations.authorization.k8s.io/decision") == .json(column: "annotations", path: ["authorization.k8s.io/decision"]))
        #expect(
            AuditField.resolve("requestObject.spec.containers.securityContext.privileged")
                == .json(column: "request_object", path: ["spec", "containers", "securityContext", "privileged"]))
        #expect(AuditField.resolve("responseObject.status.phase") == .json(column: "response_object", path: ["status", "phase"]))
        for unknown in ["Image", "requestObject.", "requestObject.spec..x", "annotations.", "objectRef"] {
            #expect(AuditField.resolve(unknown) == nil, "\(unknown)")
        }
    }

    /// Every column the mapping names is a column of the table contract, of the right kind.
    @Test func everyMappedColumnExistsWithItsType() {
        let columns = Dictionary(uniqueKeysWithValues: AuditLogRow.schema.columns.map { ($0.name, $0.type) })
        for (field, mapped) in AuditField.columns {
            switch mapped {
            case .text(let c): #expect(columns[c] == .text, "\(field) → \(c)")
            case .integer(let c): #expect(columns[c] == .int, "\(field) → \(c)")
            case .list(let c): #expect(columns[c] == .list, "\(field) → \(c)")
            case .json(let c, _): #expect(columns[c] == .json, "\(field) → \(c)")
            }
        }
        for (_, column) in AuditField.documents + [("annotations.", "annotations")] { #expect(columns[column] == .json, "\(column)") }
    }
}
