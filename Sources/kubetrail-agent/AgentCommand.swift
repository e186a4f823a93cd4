import ArgumentParser
import KubetrailAgent
import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

@main
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubetrail-agent",
        abstract: "Tail Kubernetes audit and container logs on this node and ship them to the kubetrail aggregator.",
        discussion: """
            Every flag has an environment variable named for it (--batch-wait is KUBETRAIL_BATCH_WAIT); \
            flags win over the variables, which win over the agent { … } block of --config. Durations \
            are written 500ms, 30s, 5m, 1h30m, or as a bare number of seconds. Checkpoints move only when the aggregator has committed a batch; SIGTERM flushes \
            and saves them within --shutdown-timeout.
            """,
        subcommands: [Run.self, ReplayQuarantine.self],
        defaultSubcommand: Run.self)
}

struct ConnectionOptions: ParsableArguments {
    @Option(help: "The aggregator's URL, e.g. https://kubetrail-aggregator:8443. Env: KUBETRAIL_AGGREGATOR.")
    var aggregator: String?

    @Option(help: "File holding the ingest bearer token (re-read when it changes). Env: KUBETRAIL_TOKEN_FILE.")
    var tokenFile: String?

    @Option(help: "CA bundle (PEM) to verify the aggregator's certificate. Env: KUBETRAIL_CA_FILE.")
    var caFile: String?

    @Option(help: "Directory for checkpoints, spool and quarantine (default /var/lib/kubetrail). Env: KUBETRAIL_STATE_DIR.")
    var stateDir: String?

    @Option(name: .customLong("config"), help: "HCL file with an agent { … } block. Env: KUBETRAIL_CONFIG.")
    var configFile: String?

    /// Defaults ← config file ← environment ← flags.
    func resolve(into config: inout AgentConfiguration, _ layers: SettingLayers) throws {
        if let file = layers.text("config", configFile) { try AgentConfigFile.apply(path: file, to: &config) }
        config.aggregatorURL = layers.text("aggregator", aggregator) ?? config.aggregatorURL
        config.tokenFile = layers.text("token-file", tokenFile) ?? config.tokenFile
        config.caFile = layers.text("ca-file", caFile) ?? config.caFile
        config.stateDirectory = layers.text("state-dir", stateDir) ?? config.stateDirectory
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the agent (the default).")

    @OptionGroup var connection: ConnectionOptions

    @Option(
        name: .customLong("audit-path"),
        help:
            "Audit log glob (repeatable). Default: /var/log/audit/kube/*.log, /var/log/kube-audit/*.log, /var/log/kubernetes/audit/*.log. Env: KUBETRAIL_AUDIT_PATHS (comma list)."
    )
    var auditPaths: [String] = []

    @Flag(help: "Tail no audit logs (container logs only).")
    var noAudit = false

    @Option(name: .customLong("containers-dir"), help: "Directory of container log links (default /var/log/containers). Env: KUBETRAIL_CONTAINERS_DIR.")
    var containersDir: String?

    @Flag(help: "Tail no container logs (audit logs only).")
    var noContainers = false

    @Option(name: .customLong("pods-dir"), help: "kubelet's pod log directory (default /var/log/pods). Env: KUBETRAIL_PODS_DIR.")
    var podsDir: String?

    @Option(help: "Namespaces whose container logs are shipped: \"*\" or a comma list (globs allowed). Env: KUBETRAIL_NAMESPACE.")
    var namespace: String?

    @Option(help: "Namespaces never shipped (comma list). Env: KUBETRAIL_EXCLUDE_NAMESPACE.")
    var excludeNamespace: String?

    @Option(help: "This node's name. Env: NODE_NAME (downward API) or KUBETRAIL_NODE_NAME; default: the host name.")
    var nodeName: String?

    @Option(help: "Cluster name sent with every batch. Env: KUBETRAIL_CLUSTER_NAME.")
    var clusterName: String?

    @Option(help: "HOST:PORT for /healthz and /metrics (default 0.0.0.0:9102), or \"off\". Env: KUBETRAIL_METRICS_LISTEN.")
    var metricsListen: String?

    @Option(help: "Seal a batch at this many uncompressed bytes (default 1048576).")
    var batchBytes: Int?

    @Option(help: "Seal a batch after this long (default 1s).")
    var batchWait: String?

    @Option(help: "zlib level 0–9 (default 1).")
    var compressionLevel: Int?

    @Option(help: "Bytes read ahead of acknowledgements before reading pauses (default 8 MiB).")
    var maxUnackedBytes: Int?

    @Option(help: "Cap on one container log record, CRI P…F groups joined (default 1 MiB).")
    var maxContainerLineBytes: Int?

    @Option(help: "Cap on one audit event line (default 16 MiB).")
    var maxAuditLineBytes: Int?

    @Option(help: "Rescan directories and files this often, a backstop for lost inotify events (default 5s).")
    var rescanInterval: String?

    @Option(help: "Seconds a rotated file must be idle and acknowledged before it is closed (default 5s).")
    var rotatedIdle: String?

    @Option(help: "Send a CRI P group whose F has not come after this long without new bytes (default 10s).")
    var maxMergeAge: String?

    @Option(help: "Deleted files held open before their remaining bytes are spooled (default 64).")
    var maxHeldDeletedFiles: Int?

    @Option(help: "Bound on the disk spool for deleted files' unacknowledged bytes (default 256 MiB).")
    var maxSpoolBytes: UInt64?

    @Option(help: "Bound on the quarantine directory for refused batches (default 64 MiB); a refused batch that does not fit is dropped and counted.")
    var maxQuarantineBytes: UInt64?

    @Option(help: "Retry backoff start and cap, e.g. 1s,30s.")
    var backoff: String?

    @Option(help: "How long SIGTERM waits for acknowledgements before saving checkpoints (default 10s).")
    var shutdownTimeout: String?

    func run() throws {
        let layers = SettingLayers.process
        var config = AgentConfiguration()
        do {
            try connection.resolve(into: &config, layers)
            if !auditPaths.isEmpty {
                config.auditPaths = auditPaths
            } else if let list = layers.environment("KUBETRAIL_AUDIT_PATHS") {
                config.auditPaths = list.split(separator: ",").map(String.init)
            }
            if noAudit { config.auditPaths = [] }
            if let d = layers.text("containers-dir", containersDir) { config.containersDirectory = d }
            if noContainers { config.containersDirectory = nil }
            config.podsDirectory = layers.text("pods-dir", podsDir) ?? config.podsDirectory
            let include = layers.text("namespace", namespace), exclude = layers.text("exclude-namespace", excludeNamespace)
            if include != nil || exclude != nil {
                config.namespaces = NamespaceFilter(
                    include: include ?? config.namespaces.include.joined(separator: ","),
                    exclude: exclude ?? config.namespaces.exclude.joined(separator: ","))
            }
            // The downward API's NODE_NAME, as the manifests set it, before our own variable.
            config.nodeName =
                nodeName ?? layers.environment("NODE_NAME") ?? layers.text("node-name", nil) ?? (config.nodeName.isEmpty ? Self.hostName() : config.nodeName)
            config.clusterName = layers.text("cluster-name", clusterName) ?? config.clusterName
            if let m = layers.text("metrics-listen", metricsListen) { config.metricsListen = m == "off" ? nil : m }
            config.maxBatchBytes = try layers.number("batch-bytes", batchBytes) ?? config.maxBatchBytes
            config.batchAge = try layers.duration("batch-wait", batchWait) ?? config.batchAge
            if let v = try layers.number("compression-level", compressionLevel) { config.compressionLevel = Int32(clamping: v) }
            config.maxUnackedBytes = try layers.number("max-unacked-bytes", maxUnackedBytes) ?? config.maxUnackedBytes
            config.maxContainerLineBytes = try layers.number("max-container-line-bytes", maxContainerLineBytes) ?? config.maxContainerLineBytes
            config.maxAuditLineBytes = try layers.number("max-audit-line-bytes", maxAuditLineBytes) ?? config.maxAuditLineBytes
            config.rescanInterval = try layers.duration("rescan-interval", rescanInterval) ?? config.rescanInterval
            config.rotatedIdle = try layers.duration("rotated-idle", rotatedIdle) ?? config.rotatedIdle
            config.maxMergeAge = try layers.duration("max-merge-age", maxMergeAge) ?? config.maxMergeAge
            config.maxHeldDeletedFiles = try layers.number("max-held-deleted-files", maxHeldDeletedFiles) ?? config.maxHeldDeletedFiles
            if let v = try layers.number("max-spool-bytes", maxSpoolBytes.map { Int(clamping: $0) }) { config.maxSpoolBytes = UInt64(clamping: v) }
            if let v = try layers.number("max-quarantine-bytes", maxQuarantineBytes.map { Int(clamping: $0) }) {
                config.maxQuarantineBytes = UInt64(clamping: v)
            }
            config.shutdownTimeout = try layers.duration("shutdown-timeout", shutdownTimeout) ?? config.shutdownTimeout
            let startAndCap = try layers.value("backoff", backoff, file: nil, expected: "START,CAP such as 1s,30s") { text -> (Double, Double)? in
                let parts = text.split(separator: ",").map(String.init)
                guard parts.count == 2, let start = DurationText.setting(parts[0]), let cap = DurationText.setting(parts[1]) else { return nil }
                return (start, cap)
            }
            if let (start, cap) = startAndCap {
                config.backoffMinimum = start
                config.backoffMaximum = cap
            }
            try Agent(configuration: config).run()
        } catch let error as AgentConfigurationError {
            throw ValidationError(error.description)
        } catch let error as SettingError {
            throw ValidationError(error.description)
        }
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
