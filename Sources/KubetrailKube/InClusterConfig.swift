import Foundation
import KubetrailCore

/// The pod's own service account, as client-go's `InClusterConfig` finds it.
public enum InClusterConfig {
    public static let defaultDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// `KUBERNETES_SERVICE_HOST` and `_PORT` set and a token file present (not a directory).
    public static func isPossible(environment: [String: String], directory: String = defaultDirectory) -> Bool {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else { return false }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: directory + "/token", isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    public static func connection(
        environment: [String: String], directory: String = defaultDirectory,
        namespace override: String? = nil
    ) throws -> ClusterConnection {
        guard isPossible(environment: environment, directory: directory),
            let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"]
        else {
            throw KubeconfigError.invalid("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")
        }
        // net.JoinHostPort: an IPv6 address gets brackets.
        let joined = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let fileNamespace = (try? String(contentsOfFile: directory + "/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let namespace =
            override ?? environment["POD_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? fileNamespace.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        var c = ClusterConnection(server: "https://" + joined, namespace: namespace, contextName: nil)
        if FileManager.default.fileExists(atPath: directory + "/ca.crt") { c.certificateAuthority = .file(directory + "/ca.crt") }
        c.tokenFile = directory + "/token"
        return c
    }
}

/// A bearer token from a file, re-read when the cached copy is about a minute old (kubelet
/// rotates projected tokens at 80 % of their life) and after a 401. A failed or empty re-read
/// keeps the previous token.
public final class FileTokenSource: @unchecked Sendable {
    public let path: String
    public let maxAge: Double
    private let lock = NSLock()
    private var token: String?
    private var readAt = -Double.infinity
    private let clock: @Sendable () -> Double

    public init(path: String, fallback: String? = nil, maxAge: Double = 50, clock: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime })
    {
        self.path = path
        self.maxAge = maxAge
        self.clock = clock
        token = fallback
    }

    public func current() throws -> String {
        try lock.withLock {
            if clock() - readAt >= maxAge {
                if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                    let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
                    if !t.isEmpty { token = t }
                }
                readAt = clock()
            }
            guard let token else { throw KubeconfigError.invalid("cannot read token file \(path)") }
            return token
        }
    }

    /// After a 401: the next request reads the file again.
    public func refused() { lock.withLock { readAt = -Double.infinity } }
}
