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
            Flags win over KUBETRAIL_* environment variables, which win over the agent { … } block of \
            --config. Checkpoints move only when the aggregator has committed a batch; SIGTERM flushes \
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
    func resolve(into config: inout AgentConfiguration, _ env: Environment) throws {
        if let file = configFile ?? env["KUBETRAIL_CONFIG"] { try AgentConfigFile.apply(path: file, to: &config) }
        config.aggregatorURL = aggregator ?? env["KUBETRAIL_AGGREGATOR"] ?? config.aggregatorURL
        config.tokenFile = tokenFile ?? env["KUBETRAIL_TOKEN_FILE"] ?? config.tokenFile
        config.caFile = caFile ?? env["KUBETRAIL_CA_FILE"] ?? config.caFile
        config.stateDirectory = stateDir ?? env["KUBETRAIL_STATE_DIR"] ?? config.stateDirectory
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
        let env = Environment()
        var config = AgentConfiguration()
        do {
            try connection.resolve(into: &config, env)
            if !auditPaths.isEmpty {
                config.auditPaths = auditPaths
            } else if let list = env["KUBETRAIL_AUDIT_PATHS"] {
                config.auditPaths = list.split(separator: ",").map(String.init)
            }
            if noAudit { config.auditPaths = [] }
            if let d = containersDir ?? env["KUBETRAIL_CONTAINERS_DIR"] { config.containersDirectory = d }
            if noContainers { config.containersDirectory = nil }
            config.podsDirectory = podsDir ?? env["KUBETRAIL_PODS_DIR"] ?? config.podsDirectory
            if namespace != nil || excludeNamespace != nil || env["KUBETRAIL_NAMESPACE"] != nil || env["KUBETRAIL_EXCLUDE_NAMESPACE"] != nil {
                config.namespaces = NamespaceFilter(
                    include: namespace ?? env["KUBETRAIL_NAMESPACE"] ?? config.namespaces.include.joined(separator: ","),
                    exclude: excludeNamespace ?? env["KUBETRAIL_EXCLUDE_NAMESPACE"] ?? config.namespaces.exclude.joined(separator: ","))
            }
            config.nodeName = nodeName ?? env["NODE_NAME"] ?? env["KUBETRAIL_NODE_NAME"] ?? (config.nodeName.isEmpty ? Self.hostName() : config.nodeName)
            config.clusterName = clusterName ?? env["KUBETRAIL_CLUSTER_NAME"] ?? config.clusterName
            if let m = metricsListen ?? env["KUBETRAIL_METRICS_LISTEN"] { config.metricsListen = m == "off" ? nil : m }
            if let v = batchBytes { config.maxBatchBytes = v }
            if let v = batchWait { config.batchAge = try Self.seconds(v, "--batch-wait") }
            if let v = compressionLevel { config.compressionLevel = Int32(clamping: v) }
            if let v = maxUnackedBytes { config.maxUnackedBytes = v }
            if let v = maxContainerLineBytes { config.maxContainerLineBytes = v }
            if let v = maxAuditLineBytes { config.maxAuditLineBytes = v }
            if let v = rescanInterval { config.rescanInterval = try Self.seconds(v, "--rescan-interval") }
            if let v = rotatedIdle { config.rotatedIdle = try Self.seconds(v, "--rotated-idle") }
            if let v = maxMergeAge { config.maxMergeAge = try Self.seconds(v, "--max-merge-age") }
            if let v = maxHeldDeletedFiles { config.maxHeldDeletedFiles = v }
            if let v = maxSpoolBytes { config.maxSpoolBytes = v }
            if let v = maxQuarantineBytes { config.maxQuarantineBytes = v }
            if let v = shutdownTimeout { config.shutdownTimeout = try Self.seconds(v, "--shutdown-timeout") }
            if let v = backoff {
                let parts = v.split(separator: ",").map(String.init)
                guard parts.count == 2 else { throw AgentConfigurationError("--backoff takes START,CAP such as 1s,30s") }
                config.backoffMinimum = try Self.seconds(parts[0], "--backoff")
                config.backoffMaximum = try Self.seconds(parts[1], "--backoff")
            }
            try Agent(configuration: config).run()
        } catch let error as AgentConfigurationError {
            throw ValidationError(error.description)
        }
    }

    static func seconds(_ text: String, _ flag: String) throws -> Double {
        if let n = Double(text), n >= 0 { return n }
        if text.hasSuffix("ms"), let n = Double(text.dropLast(2)), n >= 0 { return n / 1000 }
        guard let d = DurationText.seconds(text) else { throw AgentConfigurationError("\(flag) must be a duration such as 1s or 500ms, not \(text)") }
        return d
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Process environment without Foundation.
struct Environment {
    subscript(name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let s = String(cString: value)
        return s.isEmpty ? nil : s
    }
}
