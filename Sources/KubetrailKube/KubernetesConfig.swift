import Foundation
import KubetrailCore

/// The `connection "kubernetes" { … }` and `source "kubernetes_audit_logs" { … }` blocks of the
/// product's `.tpc` configuration (`../shared/product-readme.md`), read from
/// `~/.kubetrail/config/*.tpc` and `--config` files. Other blocks (`aggregator`, `agent`) belong
/// to other components and are left alone; an unknown option in these blocks is an error that
/// names the file, line and option.
public struct KubernetesConfig: Sendable, Equatable {
    public enum SinceTime: Sendable, Equatable {
        /// `"1h"`, `"15m"`: that long before the collection starts.
        case ago(seconds: Double)
        /// An RFC 3339 instant.
        case at(Timestamp)
    }

    public enum AuditMethod: String, Sendable, Equatable {
        case file, apiserver, daemonset
    }

    public struct Connection: Sendable, Equatable {
        public var kubeconfigPath: String?
        public var kubeconfigContext: String?
        public var serviceAccount = false
        /// `"*"` or a comma list.
        public var namespaces: [String] = ["*"]
        public var followLogs = false
        public var sinceTime: SinceTime?
        public var includeEvents = true
        public var clusterName: String?
        /// Where it was defined, for messages.
        public var definedAt: String = ""

        public init() {}

        public func allows(namespace: String) -> Bool {
            namespaces.contains("*") || namespaces.contains(namespace)
        }
    }

    public struct AuditSource: Sendable, Equatable {
        /// nil: try file, then apiserver, then daemonset (the README's order).
        public var method: AuditMethod?
        /// Never read files: apiserver, then daemonset.
        public var apiOnly = false
        public var auditLogPaths: [String] = []

        public init() {}

        /// The methods to try, in order.
        public var methods: [AuditMethod] {
            if let method { return [method] }
            return apiOnly ? [.apiserver, .daemonset] : [.file, .apiserver, .daemonset]
        }
    }

    public var connection: Connection?
    public var auditSource = AuditSource()

    public init() {}

    /// Reads every `*.tpc` in `directory` (sorted by name; a missing directory is no config),
    /// then `extra` files in order.
    public static func load(directory: String?, extra: [String], home: String) throws -> KubernetesConfig {
        var files: [String] = []
        if let directory {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            files += names.filter { $0.hasSuffix(".tpc") }.sorted().map { directory + "/" + $0 }
        }
        files += extra
        var config = KubernetesConfig()
        for file in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw KubernetesConfigError("cannot read config file \(file)")
            }
            try config.apply(text, file: file, home: home)
        }
        return config
    }

    /// Adds the blocks of one file.
    public mutating func apply(_ text: String, file: String, home: String) throws {
        let document: HCL.Document
        do { document = try HCL.parse(text, file: file) } catch { throw KubernetesConfigError(error.description) }
        let options = HCLOptions(file: file)
        func fail(_ line: Int, _ message: String) -> KubernetesConfigError { KubernetesConfigError("\(file):\(line): \(message)") }
        func wrap<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let error as HCL.ParseError { throw KubernetesConfigError(error.description) }
        }
        func bool(_ a: HCL.Attribute) throws -> Bool {
            guard case .bool(let b) = a.value else { throw fail(a.line, "\(a.name) must be true or false, not \(a.value.typeName)") }
            return b
        }
        for block in document.blocks {
            switch (block.type, block.labels) {
            case ("connection", ["kubernetes"]):
                if let previous = connection {
                    throw fail(block.line, "connection \"kubernetes\" is already defined at \(previous.definedAt)")
                }
                var c = Connection()
                c.definedAt = "\(file):\(block.line)"
                for a in block.attributes {
                    switch a.name {
                    case "plugin":
                        let plugin = try wrap { try options.string(a) }
                        guard plugin == "kubernetes" else { throw fail(a.line, "plugin must be \"kubernetes\", not \"\(plugin)\"") }
                    case "kubeconfig_path": c.kubeconfigPath = Self.expandHome(try wrap { try options.string(a) }, home: home)
                    case "kubeconfig_context": c.kubeconfigContext = try wrap { try options.string(a) }
                    case "service_account": c.serviceAccount = try bool(a)
                    case "namespace":
                        let list = try wrap { try options.string(a) }.split(separator: ",")
                            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                        guard !list.isEmpty else { throw fail(a.line, "namespace must be \"*\" or a comma list of namespaces") }
                        c.namespaces = list
                    case "follow_logs": c.followLogs = try bool(a)
                    case "since_time": c.sinceTime = try Self.sinceTime(try wrap { try options.string(a) }, line: a.line, fail: fail)
                    case "include_events": c.includeEvents = try bool(a)
                    case "cluster_name": c.clusterName = try wrap { try options.string(a) }
                    default: throw fail(a.line, "unknown option \(a.name) in connection \"kubernetes\"")
                    }
                }
                if let b = block.blocks.first { throw fail(b.line, "unknown block \(b.type) in connection \"kubernetes\"") }
                if c.serviceAccount && (c.kubeconfigPath != nil || c.kubeconfigContext != nil) {
                    throw fail(block.line, "service_account = true cannot be combined with kubeconfig_path or kubeconfig_context: pick one way to authenticate")
                }
                connection = c
            case ("connection", _):
                throw fail(
                    block.line, "unknown connection \(block.labels.map { "\"\($0)\"" }.joined(separator: " ")) (kubetrail reads connection \"kubernetes\")")
            case ("source", ["kubernetes_audit_logs"]):
                var s = AuditSource()
                for a in block.attributes {
                    switch a.name {
                    case "method":
                        let m = try wrap { try options.string(a) }
                        guard let method = AuditMethod(rawValue: m) else {
                            throw fail(a.line, "method must be one of file, apiserver, daemonset, not \"\(m)\"")
                        }
                        s.method = method
                    case "api_only": s.apiOnly = try bool(a)
                    case "audit_log_paths": s.auditLogPaths = try wrap { try options.strings(a) }.map { Self.expandHome($0, home: home) }
                    default: throw fail(a.line, "unknown option \(a.name) in source \"kubernetes_audit_logs\"")
                    }
                }
                if s.apiOnly && s.method == .file {
                    throw fail(block.line, "api_only = true and method = \"file\" contradict each other")
                }
                if !s.auditLogPaths.isEmpty && (s.apiOnly || (s.method != nil && s.method != .file)) {
                    throw fail(block.line, "audit_log_paths applies to the file method only")
                }
                auditSource = s
            case ("source", _):
                throw fail(block.line, "unknown source \(block.labels.map { "\"\($0)\"" }.joined(separator: " "))")
            default:
                continue  // aggregator { }, agent { }: other components' blocks
            }
        }
    }

    static func sinceTime(_ text: String, line: Int, fail: (Int, String) -> KubernetesConfigError) throws -> SinceTime {
        if let t = Timestamp(rfc3339: text) { return .at(t) }
        if let d = DurationText.seconds(text), d > 0 { return .ago(seconds: d) }
        throw fail(line, "since_time must be a duration such as \"1h\" or \"15m\", or an RFC 3339 time, not \"\(text)\"")
    }

    static func expandHome(_ path: String, home: String) -> String {
        path == "~" ? home : path.hasPrefix("~/") ? home + path.dropFirst(1) : path
    }
}

public struct KubernetesConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

extension KubernetesConfig.Connection {
    /// The cluster this block points at: the pod's service account, or the kubeconfig (path or
    /// `KUBECONFIG`, then `~/.kube/config`) at the given or current context, as kubectl resolves it.
    public func resolve(environment: [String: String]) throws -> ClusterConnection {
        if serviceAccount { return try InClusterConfig.connection(environment: environment) }
        return try MergedKubeconfig.load(explicit: kubeconfigPath, environment: environment)
            .connection(context: kubeconfigContext, environment: environment)
    }

    /// The instant `since_time` names, for a collection starting `now`.
    public func since(now: Timestamp) -> Timestamp? {
        switch sinceTime {
        case .ago(let seconds)?: return now.adding(microseconds: -Int64(seconds * 1_000_000))
        case .at(let t)?: return t
        case nil: return nil
        }
    }
}

extension KubernetesConfig.AuditSource {
    /// The source block asks for audit events from pod logs rather than from files.
    public var readsThroughAPI: Bool { apiOnly || method == .apiserver || method == .daemonset }
}
