/// What one line of the ingest token file lets its token do (docs/operations.md, "Tokens"):
///
///     <token> [node=<name>] [cluster=<name>] [kinds=audit,logs,webhook]
///
/// A line without `kinds` may ship audit and container log lines from any node, but may not
/// post to the audit webhook: kube-apiserver's webhook gets a credential of its own (a
/// `kinds=webhook` token or a client certificate), so no agent's token can pose as the API
/// server. `node=` pins the batch's node name, and `cluster=` the cluster its rows are stored
/// under, so a token taken from one node cannot speak for another.
public struct TokenScope: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Audit log lines shipped by an agent (control-plane nodes).
        case audit
        /// Container log lines shipped by an agent.
        case logs
        /// kube-apiserver's audit webhook.
        case webhook
    }

    /// Which line of its file, for messages: never the token.
    public var line: Int
    /// SHA-256 of the token: what per-token limits are kept under.
    public var id: [UInt8] = []
    public var node: String?
    public var cluster: String?
    public var kinds: Set<Kind>

    public static let defaultKinds: Set<Kind> = [.audit, .logs]

    /// A client certificate signed by the client CA: the webhook, as kube-apiserver sends it.
    static let clientCertificate = TokenScope(line: 0, node: nil, cluster: nil, kinds: [.webhook])

    public init(line: Int, node: String? = nil, cluster: String? = nil, kinds: Set<Kind> = TokenScope.defaultKinds) {
        self.line = line
        self.node = node
        self.cluster = cluster
        self.kinds = kinds
    }

    /// Parses the options after the token on line `line`.
    static func parse(_ options: [Substring], line: Int) throws -> TokenScope {
        var scope = TokenScope(line: line)
        for option in options {
            let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[1].isEmpty else { throw TokenFileError("line \(line): expected key=value, got \(option.prefix(40))") }
            let value = String(parts[1])
            switch parts[0] {
            case "node": scope.node = value
            case "cluster": scope.cluster = value
            case "kinds":
                var kinds = Set<Kind>()
                for name in value.split(separator: ",") {
                    guard let kind = Kind(rawValue: String(name)) else {
                        throw TokenFileError("line \(line): unknown kind \(name.prefix(40)) (audit, logs, webhook)")
                    }
                    kinds.insert(kind)
                }
                scope.kinds = kinds
            default:
                throw TokenFileError("line \(line): unknown option \(parts[0].prefix(40)) (node, cluster, kinds)")
            }
        }
        return scope
    }
}

struct TokenFileError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
