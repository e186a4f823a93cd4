/// Everything the agent is told, from flags, environment and the optional HCL file.
public struct AgentConfiguration: Sendable {
    /// The aggregator's base URL (`https://kubetrail-aggregator:8443`); `/v1/ingest` is added.
    public var aggregatorURL = ""
    public var tokenFile: String?
    public var caFile: String?
    public var stateDirectory = "/var/lib/kubetrail"
    public var auditPaths = ["/var/log/audit/kube/*.log", "/var/log/kube-audit/*.log", "/var/log/kubernetes/audit/*.log"]
    public var containersDirectory: String? = "/var/log/containers"
    public var podsDirectory = "/var/log/pods"
    public var namespaces = NamespaceFilter()
    public var nodeName = ""
    public var clusterName = ""
    public var metricsListen: String? = "0.0.0.0:9102"

    public var maxBatchBytes = 1 << 20
    public var batchAge = 1.0
    public var compressionLevel: Int32 = 1
    /// Bytes read but not yet acknowledged, across all files, before reading pauses.
    public var maxUnackedBytes = 8 << 20
    public var maxContainerLineBytes = 1 << 20
    public var maxAuditLineBytes = 16 << 20
    /// How much of an audit line over the cap is sent, for the aggregator's rejection report.
    public var truncatedAuditHeadBytes = 64 << 10
    public var readChunkBytes = 256 << 10
    public var rescanInterval = 5.0
    /// How long a rotated file must be idle (at EOF, acknowledged) before it is closed: kubelet's
    /// runtime still appends to the renamed file until it reopens.
    public var rotatedIdle = 5.0
    /// A CRI `P` group still waiting for its `F` after this long is sent as it is.
    public var maxMergeAge = 10.0
    public var maxHeldDeletedFiles = 64
    public var maxSpoolBytes: UInt64 = 256 << 20
    /// Bound on `state-dir/quarantine`; a refused batch that does not fit is dropped.
    public var maxQuarantineBytes: UInt64 = 64 << 20
    public var backoffMinimum = 1.0
    public var backoffMaximum = 30.0
    public var requestTimeout = 30.0
    public var shutdownTimeout = 10.0
    /// Checkpoint entries of files gone longer than this are forgotten.
    public var checkpointGrace = 3600.0

    public init() {}

    public var ingestURL: String {
        var base = aggregatorURL
        while base.hasSuffix("/") { base.removeLast() }
        return base.hasSuffix("/v1/ingest") ? base : base + "/v1/ingest"
    }

    public func validate() throws {
        _ = try HTTPEndpoint(aggregatorURL)
        guard !nodeName.isEmpty else {
            throw AgentConfigurationError("the node name is unknown: set --node-name or NODE_NAME (the downward API's spec.nodeName)")
        }
        guard !auditPaths.isEmpty || containersDirectory != nil else {
            throw AgentConfigurationError("nothing to tail: give --audit-path or --containers-dir")
        }
        guard (0...9).contains(compressionLevel) else { throw AgentConfigurationError("--compression-level must be 0…9") }
        guard maxBatchBytes >= 1024, maxUnackedBytes >= maxBatchBytes else {
            throw AgentConfigurationError("--max-unacked-bytes must be at least --batch-bytes (and that at least 1024)")
        }
        guard maxContainerLineBytes >= 1024, maxAuditLineBytes >= 1024 else {
            throw AgentConfigurationError("line caps must be at least 1024 bytes")
        }
    }
}

/// Which namespaces' container logs are shipped: `"*"` or a comma list (entries may be globs),
/// minus an exclude list. Decided from the file name, once per container.
public struct NamespaceFilter: Sendable, Equatable {
    public var include: [String] = ["*"]
    public var exclude: [String] = []

    public init(include: String = "*", exclude: String = "") {
        self.include = Self.list(include)
        if self.include.isEmpty { self.include = ["*"] }
        self.exclude = Self.list(exclude)
    }

    public func allows(_ namespace: String) -> Bool {
        include.contains { GlobMatch.matches($0, namespace) } && !exclude.contains { GlobMatch.matches($0, namespace) }
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }
}
