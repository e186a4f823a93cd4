import Foundation
import KubetrailKube
import KubetrailTables

/// Which pods' logs a collection reads, and which of their containers.
public struct LogPodSelection: Sendable {
    /// `["*"]` or namespaces.
    public var namespaces: [String]
    /// Sent to the API as `labelSelector` (equality terms only), nil for every pod.
    public var labelSelector: String?
    /// Kept pods, after the API's own filtering.
    public var accepts: @Sendable (PodInfo) -> Bool
    /// The containers to read of an accepted pod.
    public var containers: @Sendable (PodInfo) -> [String]
    /// Shown in messages: "pods in kube-system labelled component=kube-apiserver".
    public var summary: String
    /// `tp_source_type` of the rows, when not the table's usual one.
    public var sourceType: SourceType?

    public init(
        namespaces: [String], labelSelector: String? = nil, summary: String, sourceType: SourceType? = nil,
        accepts: @escaping @Sendable (PodInfo) -> Bool = { _ in true },
        containers: @escaping @Sendable (PodInfo) -> [String] = { $0.containers }
    ) {
        self.namespaces = namespaces
        self.labelSelector = labelSelector
        self.summary = summary
        self.sourceType = sourceType
        self.accepts = accepts
        self.containers = containers
    }

    /// Every container of every pod in `namespaces` (the pod-logs table).
    public static func allPods(namespaces: [String]) -> LogPodSelection {
        LogPodSelection(
            namespaces: namespaces,
            summary: namespaces.contains("*") ? "pods in all namespaces" : "pods in \(namespaces.joined(separator: ", "))")
    }

    /// kube-apiserver static pods: kubeadm labels them `component=kube-apiserver`, Talos
    /// `k8s-app=kube-apiserver`; mirror pods are named `kube-apiserver-<node>`. Their
    /// `kube-apiserver` container writes the audit events to stdout with `--audit-log-path=-`.
    public static let apiserver = LogPodSelection(
        namespaces: ["kube-system"], summary: "kube-apiserver pods in kube-system",
        accepts: { pod in
            pod.labelMap["component"] == "kube-apiserver" || pod.labelMap["k8s-app"] == "kube-apiserver"
                || pod.name.hasPrefix("kube-apiserver-")
        },
        containers: { pod in pod.containers.contains("kube-apiserver") ? ["kube-apiserver"] : Array(pod.containers.prefix(1)) })

    /// Audit collector pods of a DaemonSet that copies the audit file to its stdout (for
    /// clusters whose API server writes audit files that nothing else can reach), found by
    /// the label `app.kubernetes.io/component=audit-log-collector` in any namespace.
    public static let auditCollectorDaemonSet = LogPodSelection(
        namespaces: ["*"], labelSelector: "app.kubernetes.io/component=audit-log-collector",
        summary: "pods labelled app.kubernetes.io/component=audit-log-collector", sourceType: .podLogAPI)
}

extension LogPodSelection {
    /// The pods an audit method reads; nil for `file`, which reads no pod logs.
    public static func forAudit(_ method: KubernetesConfig.AuditMethod) -> LogPodSelection? {
        switch method {
        case .file: return nil
        case .apiserver: return .apiserver
        case .daemonset: return .auditCollectorDaemonSet
        }
    }
}
