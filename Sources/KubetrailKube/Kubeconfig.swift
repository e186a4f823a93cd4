import Foundation
import KubetrailCore
import Yams

/// One kubeconfig file as written (`clientcmd/api/v1` shape), with each cluster and user
/// remembering the file it came from so relative paths resolve against that file's directory.
public struct KubeconfigFile: Sendable, Equatable {
    public struct Cluster: Sendable, Equatable {
        public var server: String?
        public var certificateAuthority: String?
        public var certificateAuthorityData: String?
        public var insecureSkipTLSVerify = false
        public var tlsServerName: String?
        public var proxyURL: String?
        public var disableCompression = false
        /// The `client.authentication.k8s.io/exec` extension, passed to exec plugins as JSON.
        public var execExtensionJSON: String?
        public var origin: String
    }

    public struct ExecConfig: Sendable, Equatable {
        public var command: String
        public var args: [String] = []
        public var env: [(String, String)] = []
        public var apiVersion: String?
        public var installHint: String?
        public var provideClusterInfo = false
        public var interactiveMode: String?

        public static func == (a: ExecConfig, b: ExecConfig) -> Bool {
            a.command == b.command && a.args == b.args && a.env.map { $0.0 + "=" + $0.1 } == b.env.map { $0.0 + "=" + $0.1 }
                && a.apiVersion == b.apiVersion && a.installHint == b.installHint
                && a.provideClusterInfo == b.provideClusterInfo && a.interactiveMode == b.interactiveMode
        }
    }

    public struct User: Sendable, Equatable {
        public var token: String?
        public var tokenFile: String?
        public var clientCertificate: String?
        public var clientCertificateData: String?
        public var clientKey: String?
        public var clientKeyData: String?
        public var username: String?
        public var password: String?
        public var exec: ExecConfig?
        public var authProviderName: String?
        public var origin: String
    }

    public struct Context: Sendable, Equatable {
        public var cluster: String
        public var user: String
        public var namespace: String?
    }

    public var path: String
    public var currentContext: String?
    public var clusters: [(name: String, cluster: Cluster)] = []
    public var users: [(name: String, user: User)] = []
    public var contexts: [(name: String, context: Context)] = []

    public static func == (a: KubeconfigFile, b: KubeconfigFile) -> Bool {
        a.path == b.path && a.currentContext == b.currentContext
            && a.clusters.map(\.name) == b.clusters.map(\.name) && a.clusters.map(\.cluster) == b.clusters.map(\.cluster)
            && a.users.map(\.name) == b.users.map(\.name) && a.users.map(\.user) == b.users.map(\.user)
            && a.contexts.map(\.name) == b.contexts.map(\.name) && a.contexts.map(\.context) == b.contexts.map(\.context)
    }

    /// Parses `text` read from `path`; errors name the file.
    public init(yaml text: String, path: String) throws {
        self.path = path
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw KubeconfigError.parse(path: path, detail: "\(error)")
        }
        guard let root else { return }  // an empty file is an empty config
        guard let map = root.mapping else { throw KubeconfigError.parse(path: path, detail: "the top level is not a mapping") }
        currentContext = map["current-context"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        for item in map["clusters"]?.sequence ?? [] {
            guard let name = item.mapping?["name"]?.string, let c = item.mapping?["cluster"]?.mapping else { continue }
            var cluster = Cluster(origin: path)
            cluster.server = c["server"]?.string
            cluster.certificateAuthority = c["certificate-authority"]?.string
            cluster.certificateAuthorityData = c["certificate-authority-data"]?.string
            cluster.insecureSkipTLSVerify = c["insecure-skip-tls-verify"]?.bool ?? false
            cluster.tlsServerName = c["tls-server-name"]?.string
            cluster.proxyURL = c["proxy-url"]?.string
            cluster.disableCompression = c["disable-compression"]?.bool ?? false
            for ext in c["extensions"]?.sequence ?? [] where ext.mapping?["name"]?.string == "client.authentication.k8s.io/exec" {
                if let value = ext.mapping?["extension"] { cluster.execExtensionJSON = Self.json(value) }
            }
            clusters.append((name, cluster))
        }
        for item in map["users"]?.sequence ?? [] {
            guard let name = item.mapping?["name"]?.string else { continue }
            let u = item.mapping?["user"]?.mapping
            var user = User(origin: path)
            user.token = u?["token"]?.string
            user.tokenFile = u?["tokenFile"]?.string
            user.clientCertificate = u?["client-certificate"]?.string
            user.clientCertificateData = u?["client-certificate-data"]?.string
            user.clientKey = u?["client-key"]?.string
            user.clientKeyData = u?["client-key-data"]?.string
            user.username = u?["username"]?.string
            user.password = u?["password"]?.string
            user.authProviderName = u?["auth-provider"]?.mapping?["name"]?.string
            if let e = u?["exec"]?.mapping {
                var exec = ExecConfig(command: e["command"]?.string ?? "")
                exec.args = e["args"]?.sequence?.compactMap(\.string) ?? []
                exec.env = (e["env"]?.sequence ?? []).compactMap { item in
                    guard let n = item.mapping?["name"]?.string else { return nil }
                    return (n, item.mapping?["value"]?.string ?? "")
                }
                exec.apiVersion = e["apiVersion"]?.string
                exec.installHint = e["installHint"]?.string
                exec.provideClusterInfo = e["provideClusterInfo"]?.bool ?? false
                exec.interactiveMode = e["interactiveMode"]?.string
                user.exec = exec
            }
            users.append((name, user))
        }
        for item in map["contexts"]?.sequence ?? [] {
            guard let name = item.mapping?["name"]?.string, let c = item.mapping?["context"]?.mapping else { continue }
            contexts.append(
                (
                    name,
                    Context(
                        cluster: c["cluster"]?.string ?? "", user: c["user"]?.string ?? "",
                        namespace: c["namespace"]?.string.flatMap { $0.isEmpty ? nil : $0 })
                ))
        }
    }

    public static func load(path: String) throws -> KubeconfigFile {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw KubeconfigError.unreadable(path: path, detail: (error as NSError).localizedDescription)
        }
        return try KubeconfigFile(yaml: text, path: path)
    }

    /// A YAML node as compact JSON (exec plugins receive the cluster extension this way).
    static func json(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if let b = node.bool, s.string == "true" || s.string == "false" { return b ? "true" : "false" }
            if let i = node.int { return String(i) }
            return JSONText.string(s.string)
        case .mapping(let m):
            return "{" + m.map { JSONText.string($0.key.string ?? "") + ":" + json($0.value) }.joined(separator: ",") + "}"
        case .sequence(let s):
            return "[" + s.map { json($0) }.joined(separator: ",") + "]"
        case .alias:
            return "null"
        }
    }
}

public enum KubeconfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case parse(path: String, detail: String)
    case unreadable(path: String, detail: String)
    /// What kubectl says, worded as kubectl words it.
    case invalid(String)

    public var description: String {
        switch self {
        case .parse(let path, let detail): return "error loading config file \"\(path)\": \(detail)"
        case .unreadable(let path, let detail): return "stat \(path): \(detail)"
        case .invalid(let message): return message
        }
    }
}
