import Foundation

/// Which kubeconfig files are read, merged the way client-go merges them
/// (`tools/clientcmd/loader.go`): the first file that defines a cluster, user or context name
/// wins that whole entry, and the first file that sets `current-context` wins it.
public struct MergedKubeconfig: Sendable {
    public private(set) var files: [String] = []
    public private(set) var currentContext: String?
    public private(set) var clusters: [String: KubeconfigFile.Cluster] = [:]
    public private(set) var users: [String: KubeconfigFile.User] = [:]
    public private(set) var contexts: [String: KubeconfigFile.Context] = [:]

    public init(_ loaded: [KubeconfigFile]) {
        for file in loaded {
            files.append(file.path)
            if currentContext == nil { currentContext = file.currentContext }
            for (name, c) in file.clusters where clusters[name] == nil { clusters[name] = c }
            for (name, u) in file.users where users[name] == nil { users[name] = u }
            for (name, c) in file.contexts where contexts[name] == nil { contexts[name] = c }
        }
    }

    /// `--kubeconfig` alone (it must exist), else the `KUBECONFIG` list (missing entries skipped,
    /// duplicates dropped), else `~/.kube/config` when it exists.
    public static func load(
        explicit: String?, environment: [String: String],
        home: String? = nil
    ) throws -> MergedKubeconfig {
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit) else {
                throw KubeconfigError.unreadable(path: explicit, detail: "no such file or directory")
            }
            return MergedKubeconfig([try KubeconfigFile.load(path: explicit)])
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            var seen = Set<String>()
            var loaded: [KubeconfigFile] = []
            for entry in list.split(separator: ":").map(String.init) where !entry.isEmpty && seen.insert(entry).inserted {
                guard FileManager.default.fileExists(atPath: entry) else { continue }
                loaded.append(try KubeconfigFile.load(path: entry))
            }
            return MergedKubeconfig(loaded)
        }
        let home = home ?? environment["HOME"] ?? NSHomeDirectory()
        let path = home + "/.kube/config"
        guard FileManager.default.fileExists(atPath: path) else { return MergedKubeconfig([]) }
        return MergedKubeconfig([try KubeconfigFile.load(path: path)])
    }

    /// Picks the context (`--context` or `current-context`), its cluster and user, resolves
    /// relative paths against the file each came from, and rejects what kubectl rejects.
    public func connection(
        context override: String? = nil, namespace: String? = nil,
        environment: [String: String] = [:]
    ) throws -> ClusterConnection {
        guard let name = override ?? currentContext else {
            // No context at all: client-go's default server.
            return ClusterConnection(
                server: environment["KUBERNETES_MASTER"] ?? "http://localhost:8080",
                namespace: namespace ?? "default", contextName: nil)
        }
        guard let context = contexts[name] else {
            // kubectl words the two cases differently.
            if override != nil { throw KubeconfigError.invalid("error: context \"\(name)\" does not exist") }
            throw KubeconfigError.invalid("Error in configuration: context was not found for specified context: \(name)")
        }
        guard let cluster = clusters[context.cluster] else {
            throw KubeconfigError.invalid("Error in configuration: cluster \"\(context.cluster)\" not found for context \(name)")
        }
        let user = users[context.user]
        if !context.user.isEmpty && user == nil {
            throw KubeconfigError.invalid("Error in configuration: user \"\(context.user)\" not found for context \(name)")
        }
        guard let server = cluster.server, !server.isEmpty else {
            throw KubeconfigError.invalid("Error in configuration: no server found for cluster \"\(context.cluster)\"")
        }
        var c = ClusterConnection(server: server, namespace: namespace ?? context.namespace ?? "default", contextName: name)
        c.clusterName = context.cluster
        c.userName = context.user.isEmpty ? nil : context.user

        // Cluster: CA, verification, SNI, proxy.
        if cluster.certificateAuthority != nil && cluster.certificateAuthorityData != nil {
            throw KubeconfigError.invalid(
                "error: certificate-authority-data and certificate-authority are both specified for \(context.cluster). certificate-authority-data will override."
            )
        }
        if cluster.insecureSkipTLSVerify && (cluster.certificateAuthority != nil || cluster.certificateAuthorityData != nil) {
            throw KubeconfigError.invalid("error: specifying a root certificates file with the insecure flag is not allowed")
        }
        if let file = cluster.certificateAuthority { c.certificateAuthority = .file(Self.resolve(file, against: cluster.origin)) }
        if let data = cluster.certificateAuthorityData { c.certificateAuthority = .data(try Self.base64(data, "certificate-authority-data")) }
        c.insecureSkipTLSVerify = cluster.insecureSkipTLSVerify
        c.tlsServerName = cluster.tlsServerName
        if let proxy = cluster.proxyURL {
            guard let scheme = URL(string: proxy)?.scheme, ["http", "https", "socks5"].contains(scheme) else {
                throw KubeconfigError.invalid("error: proxy-url \(proxy) has an unsupported scheme (http, https or socks5)")
            }
            c.proxyURL = proxy
        }
        c.disableCompression = cluster.disableCompression
        c.execClusterConfigJSON = cluster.execExtensionJSON

        guard let user else { return c }
        // User: exactly the combinations kubectl allows.
        var methods: [String] = []
        if user.token != nil || user.tokenFile != nil { methods.append("token") }
        if user.username != nil || user.password != nil { methods.append("basicAuth") }
        if methods.count > 1 {
            throw KubeconfigError.invalid(
                "error: more than one authentication method found for \(context.user); found [\(methods.joined(separator: " "))], only one is allowed")
        }
        if user.exec != nil && user.authProviderName != nil {
            throw KubeconfigError.invalid(
                "error: more than one authentication method found for \(context.user); found [exec auth-provider], only one is allowed")
        }
        if user.clientCertificate != nil && user.clientCertificateData != nil {
            throw KubeconfigError.invalid("error: client-cert-data and client-cert are both specified for \(context.user). client-cert-data will override.")
        }
        if user.clientKey != nil && user.clientKeyData != nil {
            throw KubeconfigError.invalid("error: client-key-data and client-key are both specified for \(context.user); client-key-data will override")
        }
        let hasCert = user.clientCertificate != nil || user.clientCertificateData != nil
        let hasKey = user.clientKey != nil || user.clientKeyData != nil
        if hasCert != hasKey {
            throw KubeconfigError.invalid(
                "error: client-key-data or client-key must be specified for \(context.user) to use the clientCert authentication method.")
        }
        if let file = user.clientCertificate { c.clientCertificate = .file(Self.resolve(file, against: user.origin)) }
        if let data = user.clientCertificateData { c.clientCertificate = .data(try Self.base64(data, "client-certificate-data")) }
        if let file = user.clientKey { c.clientKey = .file(Self.resolve(file, against: user.origin)) }
        if let data = user.clientKeyData { c.clientKey = .data(try Self.base64(data, "client-key-data")) }
        c.token = user.token
        c.tokenFile = user.tokenFile.map { Self.resolve($0, against: user.origin) }
        if let name = user.username { c.basicAuth = (name, user.password ?? "") }
        if var exec = user.exec {
            if exec.apiVersion == nil || exec.apiVersion!.isEmpty {
                throw KubeconfigError.invalid("error: apiVersion must be specified for \(context.user) to use exec authentication plugin")
            }
            if exec.interactiveMode == nil {
                guard exec.apiVersion != "client.authentication.k8s.io/v1" else {
                    throw KubeconfigError.invalid("error: interactiveMode must be specified for \(context.user) to use exec authentication plugin")
                }
                exec.interactiveMode = "IfAvailable"
            }
            // Only a command with a path separator is relative to the kubeconfig; a bare name is looked up on PATH.
            if exec.command.contains("/") { exec.command = Self.resolve(exec.command, against: user.origin) }
            c.exec = exec
        }
        c.authProvider = user.authProviderName
        return c
    }

    /// A relative path joined to the absolute directory of the file that holds it.
    static func resolve(_ path: String, against origin: String) -> String {
        guard !path.isEmpty, !path.hasPrefix("/") else { return path }
        let dir = URL(fileURLWithPath: origin).standardizedFileURL.deletingLastPathComponent().path
        return URL(fileURLWithPath: dir).appendingPathComponent(path).standardizedFileURL.path
    }

    static func base64(_ text: String, _ field: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text.filter { !$0.isWhitespace }) else {
            throw KubeconfigError.invalid("error: \(field) is not valid base64")
        }
        return Array(data)
    }
}

/// Where to connect and how to authenticate, after resolution: what the API client uses.
public struct ClusterConnection: @unchecked Sendable {
    public enum Material: Sendable, Equatable {
        case file(String)
        case data([UInt8])
    }

    public var server: String
    public var namespace: String
    public var contextName: String?
    public var clusterName: String?
    public var userName: String?
    public var certificateAuthority: Material?
    public var insecureSkipTLSVerify = false
    public var tlsServerName: String?
    public var proxyURL: String?
    public var disableCompression = false
    public var execClusterConfigJSON: String?
    public var clientCertificate: Material?
    public var clientKey: Material?
    public var token: String?
    public var tokenFile: String?
    public var basicAuth: (user: String, password: String)?
    public var exec: KubeconfigFile.ExecConfig?
    public var authProvider: String?

    public init(server: String, namespace: String, contextName: String?) {
        self.server = server
        self.namespace = namespace
        self.contextName = contextName
    }

    /// client-go sends credentials only over TLS.
    public var sendsCredentials: Bool { server.lowercased().hasPrefix("https://") }
}
