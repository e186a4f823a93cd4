import KubetrailCore

/// The `agent { … }` block of a kubetrail `.tpc` (HCL) file. Other blocks belong to other
/// components and are left alone; an unknown option in this block is an error naming the file,
/// line and option. Values given here are overridden by environment and flags.
public enum AgentConfigFile {
    public static func apply(path: String, to config: inout AgentConfiguration) throws {
        guard let bytes = readWholeFile(path, limit: 16 << 20) else {
            throw AgentConfigurationError("cannot read config file \(path)")
        }
        let document: HCL.Document
        do { document = try HCL.parse(String(decoding: bytes, as: UTF8.self), file: path) } catch {
            throw AgentConfigurationError(error.description)
        }
        let blocks = document.blocks.filter { $0.type == "agent" }
        guard let block = blocks.first else { return }
        func fail(_ line: Int, _ message: String) -> AgentConfigurationError { AgentConfigurationError("\(path):\(line): \(message)") }
        if blocks.count > 1 { throw fail(blocks[1].line, "only one agent block is allowed") }
        if !block.labels.isEmpty { throw fail(block.line, "the agent block takes no label") }
        if let b = block.blocks.first { throw fail(b.line, "unknown block \(b.type) in the agent block") }

        let options = HCLOptions(file: path)
        func string(_ a: HCL.Attribute) throws -> String {
            do { return try options.string(a) } catch { throw AgentConfigurationError(error.description) }
        }
        func strings(_ a: HCL.Attribute) throws -> [String] {
            do { return try options.strings(a) } catch { throw AgentConfigurationError(error.description) }
        }
        func int(_ a: HCL.Attribute) throws -> Int {
            do { return try options.wholeNumber(a) } catch { throw AgentConfigurationError(error.description) }
        }
        func seconds(_ a: HCL.Attribute) throws -> Double {
            do { return try options.duration(a) } catch { throw AgentConfigurationError(error.description) }
        }
        var include: String? = nil
        var exclude: String? = nil
        for a in block.attributes {
            switch a.name {
            case "aggregator": config.aggregatorURL = try string(a)
            case "token_file": config.tokenFile = try string(a)
            case "ca_file": config.caFile = try string(a)
            case "state_dir": config.stateDirectory = try string(a)
            case "audit_paths", "audit_log_paths": config.auditPaths = try strings(a)
            case "containers_dir": config.containersDirectory = try string(a)
            case "pods_dir": config.podsDirectory = try string(a)
            case "namespace": include = try string(a)
            case "exclude_namespace": exclude = try string(a)
            case "node_name": config.nodeName = try string(a)
            case "cluster_name": config.clusterName = try string(a)
            case "metrics_listen": config.metricsListen = try string(a)
            case "batch_bytes": config.maxBatchBytes = try int(a)
            case "batch_wait": config.batchAge = try seconds(a)
            case "compression_level": config.compressionLevel = Int32(clamping: try int(a))
            case "max_unacked_bytes": config.maxUnackedBytes = try int(a)
            case "max_container_line_bytes": config.maxContainerLineBytes = try int(a)
            case "max_audit_line_bytes": config.maxAuditLineBytes = try int(a)
            case "rescan_interval": config.rescanInterval = try seconds(a)
            case "shutdown_timeout": config.shutdownTimeout = try seconds(a)
            case "max_spool_bytes": config.maxSpoolBytes = UInt64(try int(a))
            case "max_quarantine_bytes": config.maxQuarantineBytes = UInt64(try int(a))
            case "max_held_deleted_files": config.maxHeldDeletedFiles = try int(a)
            default: throw fail(a.line, "unknown option \(a.name) in the agent block")
            }
        }
        if include != nil || exclude != nil {
            config.namespaces = NamespaceFilter(include: include ?? "*", exclude: exclude ?? "")
        }
    }
}
