import KubetrailAgent
import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// `kubetrail-agent [run] [flags]` and `kubetrail-agent replay-quarantine [flags]`.
@main
enum AgentCommand {
    static let overview = "Tail Kubernetes audit and container logs on this node and ship them to the kubetrail aggregator."
    static let discussion = """
        Every flag has an environment variable named for it (--batch-wait is KUBETRAIL_BATCH_WAIT); flags win over the \
        variables, which win over the agent { … } block of --config. Durations are written 500ms, 30s, 5m, 1h30m, or as \
        a bare number of seconds. Checkpoints move only when the aggregator has committed a batch; SIGTERM flushes and \
        saves them within --shutdown-timeout.
        """

    enum Subcommand: String, CaseIterable {
        case run
        case replayQuarantine = "replay-quarantine"

        var abstract: String {
            switch self {
            case .run: return "Run the agent (the default)."
            case .replayQuarantine: return "Send the batches the aggregator refused again (after fixing the cause); each one accepted is removed."
            }
        }

        var flags: [AgentFlag] {
            switch self {
            case .run: return AgentFlag.allCases
            case .replayQuarantine: return AgentFlag.connection
            }
        }
    }

    static func main() {
        var arguments = CommandLine.arguments.dropFirst()
        var subcommand = Subcommand.run
        var named = false
        if arguments.first == "help" {
            arguments = arguments.dropFirst()
            let target = arguments.first.flatMap(Subcommand.init(rawValue:))
            print(help(target, named: target != nil))
            exit(0)
        }
        if let first = arguments.first, let chosen = Subcommand(rawValue: first) {
            subcommand = chosen
            named = true
            arguments = arguments.dropFirst()
        }
        do {
            let flags = try ParsedFlags<AgentFlag>(arguments, accepting: subcommand.flags)
            if flags.wantsHelp {
                print(help(subcommand, named: named))
                exit(0)
            }
            switch subcommand {
            case .run: try Agent(configuration: try runConfiguration(flags)).run()
            case .replayQuarantine: exit(try replayQuarantine(flags))
            }
        } catch let error as UsageError {
            usageFailure(error.description, subcommand, named: named)
        } catch let error as SettingError {
            usageFailure(error.description, subcommand, named: named)
        } catch let error as AgentConfigurationError {
            usageFailure(error.description, subcommand, named: named)
        } catch {
            printError("Error: \(error)")
            exit(1)
        }
        exit(0)
    }

    static func help(_ subcommand: Subcommand?, named: Bool) -> String {
        guard let subcommand, named else {
            return """
                OVERVIEW: \(overview)

                \(FlagHelp.wrap(discussion, indent: 0))

                USAGE: kubetrail-agent [run] [<flags>]
                       kubetrail-agent replay-quarantine [<flags>]

                OPTIONS:
                \(FlagHelp.options(Subcommand.run.flags))

                SUBCOMMANDS:
                \(FlagHelp.table(Subcommand.allCases.map { ($0.rawValue + ($0 == .run ? " (default)" : ""), $0.abstract) }))

                  See 'kubetrail-agent help <subcommand>' for detailed help.
                """
        }
        return """
            OVERVIEW: \(subcommand.abstract)

            USAGE: kubetrail-agent \(subcommand.rawValue) [<flags>]

            OPTIONS:
            \(FlagHelp.options(subcommand.flags))
            """
    }

    static func usageFailure(_ message: String, _ subcommand: Subcommand, named: Bool) -> Never {
        let command = named ? "kubetrail-agent \(subcommand.rawValue)" : "kubetrail-agent"
        printError("Error: \(message)\nUsage: \(command) [<flags>]\n  See '\(command) --help' for more information.")
        exit(64)
    }

    static func printError(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// Defaults ← config file ← environment ← flags, for where to send and keep state.
    static func resolveConnection(_ flags: ParsedFlags<AgentFlag>, into config: inout AgentConfiguration, _ layers: SettingLayers) throws {
        if let file = layers.text("config", flags.text(.config)) { try AgentConfigFile.apply(path: file, to: &config) }
        config.aggregatorURL = layers.text("aggregator", flags.text(.aggregator)) ?? config.aggregatorURL
        config.tokenFile = layers.text("token-file", flags.text(.tokenFile)) ?? config.tokenFile
        config.caFile = layers.text("ca-file", flags.text(.caFile)) ?? config.caFile
        config.stateDirectory = layers.text("state-dir", flags.text(.stateDir)) ?? config.stateDirectory
    }

    static func replayQuarantine(_ flags: ParsedFlags<AgentFlag>) throws -> Int32 {
        var config = AgentConfiguration()
        try resolveConnection(flags, into: &config, .process)
        let outcome = try QuarantineReplay(configuration: config).run()
        print("replayed \(outcome.accepted) batch(es); \(outcome.refused) still refused and kept")
        return outcome.refused > 0 ? 1 : 0
    }

    static func runConfiguration(_ flags: ParsedFlags<AgentFlag>) throws -> AgentConfiguration {
        let layers = SettingLayers.process
        var config = AgentConfiguration()
        try resolveConnection(flags, into: &config, layers)
        func text(_ flag: AgentFlag) -> String? { layers.text(flag.rawValue, flags.text(flag)) }
        func number(_ flag: AgentFlag) throws -> Int? { try layers.number(flag.rawValue, text: flags.text(flag)) }
        func duration(_ flag: AgentFlag) throws -> Double? { try layers.duration(flag.rawValue, flags.text(flag)) }
        /// Byte bounds beyond Int.max are as good as unbounded: clamped, not refused.
        func bytes(_ flag: AgentFlag) throws -> UInt64? {
            try layers.value(flag.rawValue, flags.text(flag), file: nil, expected: "a whole number (0 or more)", parse: { UInt64($0) })
        }

        if !flags.all(.auditPath).isEmpty {
            config.auditPaths = flags.all(.auditPath)
        } else if let list = layers.environment("KUBETRAIL_AUDIT_PATHS") {
            config.auditPaths = list.split(separator: ",").map(String.init)
        }
        if flags.isOn(.noAudit) { config.auditPaths = [] }
        if let d = text(.containersDir) { config.containersDirectory = d }
        if flags.isOn(.noContainers) { config.containersDirectory = nil }
        config.podsDirectory = text(.podsDir) ?? config.podsDirectory
        let include = text(.namespace), exclude = text(.excludeNamespace)
        if include != nil || exclude != nil {
            config.namespaces = NamespaceFilter(
                include: include ?? config.namespaces.include.joined(separator: ","),
                exclude: exclude ?? config.namespaces.exclude.joined(separator: ","))
        }
        // The downward API's NODE_NAME, as the manifests set it, before our own variable.
        config.nodeName =
            flags.text(.nodeName) ?? layers.environment("NODE_NAME") ?? layers.text("node-name", nil)
            ?? (config.nodeName.isEmpty ? hostName() : config.nodeName)
        config.clusterName = text(.clusterName) ?? config.clusterName
        if let m = text(.metricsListen) { config.metricsListen = m == "off" ? nil : m }
        config.maxBatchBytes = try number(.batchBytes) ?? config.maxBatchBytes
        config.batchAge = try duration(.batchWait) ?? config.batchAge
        if let v = try number(.compressionLevel) { config.compressionLevel = Int32(clamping: v) }
        config.maxUnackedBytes = try number(.maxUnackedBytes) ?? config.maxUnackedBytes
        config.maxContainerLineBytes = try number(.maxContainerLineBytes) ?? config.maxContainerLineBytes
        config.maxAuditLineBytes = try number(.maxAuditLineBytes) ?? config.maxAuditLineBytes
        config.rescanInterval = try duration(.rescanInterval) ?? config.rescanInterval
        config.rotatedIdle = try duration(.rotatedIdle) ?? config.rotatedIdle
        config.maxMergeAge = try duration(.maxMergeAge) ?? config.maxMergeAge
        config.maxHeldDeletedFiles = try number(.maxHeldDeletedFiles) ?? config.maxHeldDeletedFiles
        config.maxSpoolBytes = try bytes(.maxSpoolBytes) ?? config.maxSpoolBytes
        config.maxQuarantineBytes = try bytes(.maxQuarantineBytes) ?? config.maxQuarantineBytes
        config.shutdownTimeout = try duration(.shutdownTimeout) ?? config.shutdownTimeout
        let startAndCap = try layers.value("backoff", flags.text(.backoff), file: nil, expected: "START,CAP such as 1s,30s") { text -> (Double, Double)? in
            let parts = text.split(separator: ",").map(String.init)
            guard parts.count == 2, let start = DurationText.setting(parts[0]), let cap = DurationText.setting(parts[1]) else { return nil }
            return (start, cap)
        }
        if let (start, cap) = startAndCap {
            config.backoffMinimum = start
            config.backoffMaximum = cap
        }
        return config
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
