/// `kubernetes_resources`: one row per live object (uid), kept current.
public struct ResourceRow: TableRow, Equatable {
    public var common: CommonFields
    public var resourceType: String
    public var apiVersion: String?
    public var namespace: String?
    public var name: String?
    public var uid: String
    public var resourceVersion: String?
    public var labels: String?
    public var annotations: String?
    public var ownerReferences: String?
    public var spec: String?
    public var status: String?
    public var conditions: String?
    public var dataKeys: [String]?
    public var createdAt: Timestamp?
    public var observedAt: Timestamp
    public var phase: String?
    public var nodeName: String?
    public var podIP: String?
    public var restartCount: Int64?
    public var qosClass: String?
    public var replicasDesired: Int64?
    public var replicasReady: Int64?
    public var replicasAvailable: Int64?
    public var serviceType: String?
    public var clusterIP: String?
    public var clusterName: String?

    public static let tableName = "kubernetes_resources"

    public static let schema = TableSchema(
        name: tableName,
        description: "Live Kubernetes objects (pods, services, deployments, …) with spec and status, one row per uid.",
        columns: CommonFields.columns + [
            Column("resource_type", .text, "The Kind: Pod, Service, Deployment, …", notNull: true),
            Column("api_version", .text, "API version of the object."),
            Column("namespace", .text, "Namespace (null for cluster-scoped objects)."),
            Column("name", .text, "Object name."),
            Column("uid", .text, "Object UID.", notNull: true),
            Column("resource_version", .text, "resourceVersion of the stored state."),
            Column("labels", .json, "metadata.labels."),
            Column("annotations", .json, "metadata.annotations (last-applied-configuration dropped on Secrets and ConfigMaps)."),
            Column("owner_references", .json, "metadata.ownerReferences."),
            Column("spec", .json, "The object's spec."),
            Column("status", .json, "The object's status."),
            Column("conditions", .json, "status.conditions."),
            Column("data_keys", .list, "Secrets and ConfigMaps: the keys of data/binaryData (never the values)."),
            Column("created_at", .timestamp, "metadata.creationTimestamp."),
            Column("observed_at", .timestamp, "When kubetrail observed this state.", notNull: true),
            Column("phase", .text, "status.phase (Pods, Namespaces, PVCs …)."),
            Column("node_name", .text, "Pods: spec.nodeName."),
            Column("pod_ip", .text, "Pods: status.podIP."),
            Column("restart_count", .int, "Pods: sum of container restart counts."),
            Column("qos_class", .text, "Pods: status.qosClass."),
            Column("replicas_desired", .int, "Workloads: desired replicas."),
            Column("replicas_ready", .int, "Workloads: ready replicas."),
            Column("replicas_available", .int, "Workloads: available replicas."),
            Column("service_type", .text, "Services: spec.type."),
            Column("cluster_ip", .text, "Services: spec.clusterIP."),
            Column("cluster_name", .text, "Configured cluster name.")
        ],
        timeColumn: "observed_at",
        indexes: [
            ["resource_type", "namespace"],
            ["namespace", "name"]
        ],
        conflict: .replaceIfNewer(column: "resource_version"))

    public var values: [ColumnValue] {
        var v: [ColumnValue] = []
        v.reserveCapacity(44)
        common.append(to: &v)
        v.append(.text(resourceType))
        v.append(.text(apiVersion))
        v.append(.text(namespace))
        v.append(.text(name))
        v.append(.text(uid))
        v.append(.text(resourceVersion))
        v.append(.text(labels))
        v.append(.text(annotations))
        v.append(.text(ownerReferences))
        v.append(.text(spec))
        v.append(.text(status))
        v.append(.text(conditions))
        v.append(.list(dataKeys))
        v.append(.timestamp(createdAt))
        v.append(.timestamp(observedAt))
        v.append(.text(phase))
        v.append(.text(nodeName))
        v.append(.text(podIP))
        v.append(.int(restartCount))
        v.append(.text(qosClass))
        v.append(.int(replicasDesired))
        v.append(.int(replicasReady))
        v.append(.int(replicasAvailable))
        v.append(.text(serviceType))
        v.append(.text(clusterIP))
        v.append(.text(clusterName))
        return v
    }
}

/// API objects → rows. Secret and ConfigMap values never leave this function: only their keys.
public enum ResourceNormalizer {
    static let lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

    public static func row(_ o: some KubeFields, context: IngestContext) throws(Rejection) -> ResourceRow {
        guard let kind = o.kind, !kind.isEmpty else {
            throw Rejection(reason: "missing kind", detail: "object \(o.name ?? "?") has no kind")
        }
        guard let uid = o.uid, !uid.isEmpty else {
            throw Rejection(reason: "missing metadata.uid", detail: "\(kind) \(o.name ?? "?") has no metadata.uid")
        }
        let holdsValues = kind == "Secret" || kind == "ConfigMap"
        // last-applied-configuration repeats the object, values included.
        let annotations = holdsValues ? o.jsonText(["metadata", "annotations"], without: lastApplied) : o.jsonText("metadata", "annotations")
        var dataKeys: [String]? = nil
        if holdsValues {
            dataKeys = Array(Set(o.keys("data") + o.keys("binaryData") + o.keys("stringData"))).sorted()
        }
        let observed = context.ingestTimestamp
        var common = CommonFields(id: uid, timestamp: observed, table: ResourceRow.tableName, context: context)
        common.akas = [uid]
        common.tags = o.stringMembers("metadata", "labels").map { "\($0.key)=\($0.value)" }.sorted()
        var ips: [String] = []
        for ip in [o.string("status", "podIP"), o.string("spec", "clusterIP"), o.string("status", "hostIP")] {
            if let ip, !ip.isEmpty, ip != "None", !ips.contains(ip) { ips.append(ip) }
        }
        common.ips = ips
        let restarts = kind == "Pod" ? o.sum("restartCount", overArray: "status", "containerStatuses") : nil
        let isDaemonSet = kind == "DaemonSet"
        return ResourceRow(
            common: common, resourceType: kind, apiVersion: o.apiVersion, namespace: o.namespace, name: o.name,
            uid: uid, resourceVersion: o.resourceVersion,
            labels: o.jsonText("metadata", "labels"), annotations: annotations,
            ownerReferences: o.jsonText("metadata", "ownerReferences"),
            spec: holdsValues ? nil : o.jsonText("spec"),
            status: holdsValues ? nil : o.jsonText("status"),
            conditions: o.jsonText("status", "conditions"),
            dataKeys: dataKeys,
            createdAt: try o.timestamp("metadata", "creationTimestamp"), observedAt: observed,
            phase: o.string("status", "phase"), nodeName: o.string("spec", "nodeName"),
            podIP: o.string("status", "podIP"), restartCount: restarts, qosClass: o.string("status", "qosClass"),
            replicasDesired: isDaemonSet ? o.int("status", "desiredNumberScheduled") : o.int("spec", "replicas"),
            replicasReady: isDaemonSet ? o.int("status", "numberReady") : o.int("status", "readyReplicas"),
            replicasAvailable: isDaemonSet ? o.int("status", "numberAvailable") : o.int("status", "availableReplicas"),
            serviceType: kind == "Service" ? o.string("spec", "type") : nil,
            clusterIP: kind == "Service" ? o.string("spec", "clusterIP") : nil,
            clusterName: context.clusterName)
    }
}
