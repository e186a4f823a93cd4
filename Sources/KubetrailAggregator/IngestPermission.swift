import Foundation
import KubetrailCore

/// Holds a batch to what its token's line allows: the node it names, the cluster its rows are
/// stored under, and the kinds of lines in it. Anything else is refused whole with 403, so a
/// misconfigured agent keeps its data (it stays on the node) and says why in its log.
struct IngestPermission {
    let scope: TokenScope
    /// The aggregator's own `--cluster-name`, which outranks everything.
    let configuredCluster: String?
    let claims: ClusterClaims

    /// The cluster the batch's rows are stored under (nil: the batch's own, which is empty).
    func cluster(of header: WireFormat.Header) throws -> String? {
        if let node = scope.node, header.node != node {
            throw forbidden("this token (line \(scope.line)) is bound to node \(node); the batch says \(header.node.prefix(100))")
        }
        if let bound = scope.cluster {
            if !header.cluster.isEmpty, header.cluster != bound {
                throw forbidden("this token (line \(scope.line)) is bound to cluster \(bound); the batch says \(header.cluster.prefix(100))")
            }
            return configuredCluster ?? bound
        }
        if let configuredCluster { return configuredCluster }
        guard !header.cluster.isEmpty else { return nil }
        if !claims.claim(header.cluster, for: scope.id) {
            throw forbidden(
                "this token (line \(scope.line)) already sent batches for \(claims.limit) other cluster\(claims.limit == 1 ? "" : "s"); bind it with cluster=NAME in the token file"
            )
        }
        return header.cluster
    }

    func check(_ kind: WireFormat.RecordKind) throws {
        let needed: TokenScope.Kind
        switch kind {
        case .auditLine, .truncatedAuditLine: needed = .audit
        case .containerLogLine, .truncatedContainerLogLine: needed = .logs
        }
        guard scope.kinds.contains(needed) else {
            throw forbidden(
                "this token (line \(scope.line)) may not ship \(needed == .audit ? "audit events" : "container logs") (kinds=\(scope.kinds.map(\.rawValue).sorted().joined(separator: ",")))"
            )
        }
    }

    private func forbidden(_ reason: String) -> APIError {
        APIError(status: .forbidden, reason: reason, headers: [.connection: "close"])
    }
}

/// The clusters each token not bound to one has sent, so one stolen token cannot fill the
/// store with rows of invented clusters.
final class ClusterClaims: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var claimed: [[UInt8]: Set<String>] = [:]

    init(limit: Int) { self.limit = limit }

    func claim(_ cluster: String, for token: [UInt8]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        var set = claimed[token, default: []]
        if set.contains(cluster) { return true }
        guard set.count < limit else { return false }
        set.insert(cluster)
        claimed[token] = set
        return true
    }
}
