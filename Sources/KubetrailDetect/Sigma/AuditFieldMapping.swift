/// Where a Sigma field of a Kubernetes audit event is in `kubernetes_audit_logs`: a column
/// the ingest extracted (compared as stored), a list column (any element), or a path into one
/// of the JSON columns. The names are the audit event's own (`audit.k8s.io/v1`), as Sigma's
/// Kubernetes rules write them.
public enum AuditField: Equatable, Sendable {
    case text(column: String)
    case integer(column: String)
    /// Any element of a list column (`user.groups`, `sourceIPs`).
    case list(column: String)
    /// A path into a JSON column; an array on the way is searched element by element.
    case json(column: String, path: [String])

    /// The audit event's top-level and `objectRef`, `user`, `impersonatedUser`, `responseStatus`
    /// fields that are columns.
    static let columns: [String: AuditField] = [
        "auditID": .text(column: "audit_id"),
        "stage": .text(column: "stage"),
        "level": .text(column: "level"),
        "verb": .text(column: "verb"),
        "requestURI": .text(column: "request_uri"),
        "userAgent": .text(column: "user_agent"),
        "sourceIPs": .list(column: "source_ips"),
        "user.username": .text(column: "user_name"),
        "user.uid": .text(column: "user_uid"),
        "user.groups": .list(column: "user_groups"),
        "impersonatedUser.username": .text(column: "impersonated_user_name"),
        "impersonatedUser.groups": .list(column: "impersonated_user_groups"),
        "objectRef.resource": .text(column: "resource"),
        "objectRef.subresource": .text(column: "subresource"),
        "objectRef.namespace": .text(column: "namespace"),
        "objectRef.name": .text(column: "name"),
        "objectRef.apiGroup": .text(column: "api_group"),
        "objectRef.apiVersion": .text(column: "api_version"),
        "objectRef.uid": .text(column: "object_uid"),
        "objectRef.resourceVersion": .text(column: "object_resource_version"),
        "responseStatus.code": .integer(column: "response_code"),
        "responseStatus.status": .text(column: "response_status"),
        "responseStatus.reason": .text(column: "response_reason"),
        "responseStatus.message": .text(column: "response_message")
    ]

    /// JSON columns and the event field each holds; what follows the prefix is a path in it.
    static let documents: [(prefix: String, column: String)] = [
        ("requestObject.", "request_object"), ("responseObject.", "response_object"), ("user.extra.", "user_extra")
    ]

    /// The short names SigmaHQ's Kubernetes rules use, written for the `ecs_kubernetes` pipeline
    /// of pySigma's Elasticsearch backend: each is where that pipeline looks. `capabilities` and
    /// `privileged` are searched in every kind of container (Falco's `any_container_privileged`),
    /// in the request (what was asked for), where the pipeline read `privileged` from the response.
    static let pipelineNames: [String: [AuditField]] = {
        let containers = ["containers", "initContainers", "ephemeralContainers"]
        return [
            "apiGroup": [.text(column: "api_group")],
            "resource": [.text(column: "resource")],
            "subresource": [.text(column: "subresource")],
            "namespace": [.text(column: "namespace")],
            "username": [.text(column: "user_name")],
            "hostPath": [.json(column: "request_object", path: ["spec", "volumes", "hostPath"])],
            "capabilities": containers.map { .json(column: "request_object", path: ["spec", $0, "securityContext", "capabilities", "add"]) },
            "privileged": containers.map { .json(column: "request_object", path: ["spec", $0, "securityContext", "privileged"]) }
        ]
    }()

    /// Where the field named `name` may be: one place, or several any of which may match (the
    /// pipeline names); nil when the audit event has no such field.
    public static func places(_ name: String) -> [AuditField]? {
        if let alternatives = pipelineNames[name] { return alternatives }
        return resolve(name).map { [$0] }
    }

    /// The field named `name` in a rule, or nil when the audit event has no such field.
    public static func resolve(_ name: String) -> AuditField? {
        if let column = columns[name] { return column }
        // Annotation keys hold dots and slashes (`authorization.k8s.io/decision`): the rest is one key.
        if name.hasPrefix("annotations."), name.count > "annotations.".count {
            return .json(column: "annotations", path: [String(name.dropFirst("annotations.".count))])
        }
        for (prefix, column) in documents where name.hasPrefix(prefix) && name.count > prefix.count {
            let path = name.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains("") else { return nil }
            return .json(column: column, path: path)
        }
        return nil
    }
}
