/// Every flag of `kubetrail-agent`, with its help. Each has an environment variable named for
/// it (`SettingLayers.variable(for:)`), read when the flag is not given.
enum AgentFlag: String, CommandFlag {
    // Where to send, and where to keep state: `run` and `replay-quarantine` both.
    case aggregator
    case tokenFile = "token-file"
    case caFile = "ca-file"
    case stateDir = "state-dir"
    case config
    // What to tail.
    case auditPath = "audit-path"
    case noAudit = "no-audit"
    case containersDir = "containers-dir"
    case noContainers = "no-containers"
    case podsDir = "pods-dir"
    case namespace
    case excludeNamespace = "exclude-namespace"
    case nodeName = "node-name"
    case clusterName = "cluster-name"
    case metricsListen = "metrics-listen"
    // How to batch, bound and retry.
    case batchBytes = "batch-bytes"
    case batchWait = "batch-wait"
    case compressionLevel = "compression-level"
    case maxUnackedBytes = "max-unacked-bytes"
    case maxContainerLineBytes = "max-container-line-bytes"
    case maxAuditLineBytes = "max-audit-line-bytes"
    case rescanInterval = "rescan-interval"
    case rotatedIdle = "rotated-idle"
    case maxMergeAge = "max-merge-age"
    case maxHeldDeletedFiles = "max-held-deleted-files"
    case maxSpoolBytes = "max-spool-bytes"
    case maxQuarantineBytes = "max-quarantine-bytes"
    case backoff
    case shutdownTimeout = "shutdown-timeout"

    static let connection: [AgentFlag] = [.aggregator, .tokenFile, .caFile, .stateDir, .config]

    var kind: FlagKind {
        switch self {
        case .noAudit, .noContainers: return .toggle
        case .auditPath: return .repeated("glob")
        case .aggregator: return .value("url")
        case .tokenFile, .caFile, .config: return .value("file")
        case .stateDir, .containersDir, .podsDir: return .value("dir")
        case .namespace, .excludeNamespace: return .value("list")
        case .nodeName, .clusterName: return .value("name")
        case .metricsListen: return .value("host:port")
        case .batchWait, .rescanInterval, .rotatedIdle, .maxMergeAge, .shutdownTimeout: return .value("duration")
        case .backoff: return .value("start,cap")
        case .compressionLevel: return .value("level")
        case .batchBytes, .maxUnackedBytes, .maxContainerLineBytes, .maxAuditLineBytes, .maxSpoolBytes, .maxQuarantineBytes: return .value("bytes")
        case .maxHeldDeletedFiles: return .value("count")
        }
    }

    var help: String {
        switch self {
        case .aggregator: return "The aggregator's URL, e.g. https://kubetrail-aggregator:8443. Env: KUBETRAIL_AGGREGATOR."
        case .tokenFile: return "File holding the ingest bearer token (re-read when it changes). Env: KUBETRAIL_TOKEN_FILE."
        case .caFile: return "CA bundle (PEM) to verify the aggregator's certificate. Env: KUBETRAIL_CA_FILE."
        case .stateDir: return "Directory for checkpoints, spool and quarantine (default /var/lib/kubetrail). Env: KUBETRAIL_STATE_DIR."
        case .config: return "HCL file with an agent { … } block. Env: KUBETRAIL_CONFIG."
        case .auditPath:
            return
                "Audit log glob (repeatable). Default: /var/log/audit/kube/*.log, /var/log/kube-audit/*.log, /var/log/kubernetes/audit/*.log. Env: KUBETRAIL_AUDIT_PATHS (comma list)."
        case .noAudit: return "Tail no audit logs (container logs only)."
        case .containersDir: return "Directory of container log links (default /var/log/containers). Env: KUBETRAIL_CONTAINERS_DIR."
        case .noContainers: return "Tail no container logs (audit logs only)."
        case .podsDir: return "kubelet's pod log directory (default /var/log/pods). Env: KUBETRAIL_PODS_DIR."
        case .namespace: return "Namespaces whose container logs are shipped: \"*\" or a comma list (globs allowed). Env: KUBETRAIL_NAMESPACE."
        case .excludeNamespace: return "Namespaces never shipped (comma list). Env: KUBETRAIL_EXCLUDE_NAMESPACE."
        case .nodeName: return "This node's name. Env: NODE_NAME (downward API) or KUBETRAIL_NODE_NAME; default: the host name."
        case .clusterName: return "Cluster name sent with every batch. Env: KUBETRAIL_CLUSTER_NAME."
        case .metricsListen: return "HOST:PORT for /healthz and /metrics (default 0.0.0.0:9102), or \"off\". Env: KUBETRAIL_METRICS_LISTEN."
        case .batchBytes: return "Seal a batch at this many uncompressed bytes (default 1048576)."
        case .batchWait: return "Seal a batch after this long (default 1s)."
        case .compressionLevel: return "zlib level 0–9 (default 1)."
        case .maxUnackedBytes: return "Bytes read ahead of acknowledgements before reading pauses (default 8 MiB)."
        case .maxContainerLineBytes: return "Cap on one container log record, CRI P…F groups joined (default 1 MiB)."
        case .maxAuditLineBytes: return "Cap on one audit event line (default 16 MiB)."
        case .rescanInterval: return "Rescan directories and files this often, a backstop for lost inotify events (default 5s)."
        case .rotatedIdle: return "How long a rotated file must be idle and acknowledged before it is closed (default 5s)."
        case .maxMergeAge: return "Send a CRI P group whose F has not come after this long without new bytes (default 10s)."
        case .maxHeldDeletedFiles: return "Deleted files held open before their remaining bytes are spooled (default 64)."
        case .maxSpoolBytes: return "Bound on the disk spool for deleted files' unacknowledged bytes (default 256 MiB)."
        case .maxQuarantineBytes:
            return "Bound on the quarantine directory for refused batches (default 64 MiB); a refused batch that does not fit is dropped and counted."
        case .backoff: return "Retry backoff start and cap, e.g. 1s,30s."
        case .shutdownTimeout: return "How long SIGTERM waits for acknowledgements before saving checkpoints (default 10s)."
        }
    }
}
