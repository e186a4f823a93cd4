import Crypto
import Foundation
import KubetrailCore
import KubetrailStore

/// Writes each cluster's next signed digest, in one transaction with the chain it describes;
/// also as a file under `directory` (one per digest) when one is configured, for copying off
/// the host.
public struct DigestWriter: Sendable {
    public let key: Curve25519.Signing.PrivateKey
    public let interval: Double
    public let retention: Double?
    public let directory: String?

    public init(key: Curve25519.Signing.PrivateKey, interval: Double, retention: Double?, directory: String?) {
        self.key = key
        self.interval = interval
        self.retention = retention
        self.directory = directory
    }

    /// One digest per cluster with a chain (made even when nothing was added: a regular
    /// heartbeat is what lets a verifier see a gap).
    ///
    /// Before signing, the span since the previous digest is checked (`ChainSpanCheck`). The
    /// digest signs the head this process wrote when it knows one, not whatever the store holds
    /// now, so a tail deleted or rewritten behind its back shows as a signed head the stored
    /// chain no longer reaches; what the check found is signed with it (`problems`), the
    /// cluster's appends are refused from then on, and the problems are thrown once every
    /// cluster's digest is written.
    @discardableResult
    public func write(_ store: any Store, now: Timestamp = .now) throws -> [AuditDigest] {
        var found: [String: [String]] = [:]
        let digests: [AuditDigest] = try store.write { w in
            let clusters = try w.chainClusters()
            return try clusters.map { cluster -> AuditDigest in
                let written = store.writtenHeads.vouched(cluster, stored: try w.storedChainHead(cluster: cluster))
                let check = try ChainSpanCheck.run(w, cluster: cluster, written: written, shared: store.sharedWriters)
                if !check.problems.isEmpty { found[cluster] = check.problems }
                let previous = try w.lastDigest(cluster: cluster)
                let before = try previous.map { try AuditDigest.parse($0.document) }
                let span = try w.chainSpan(cluster: cluster, after: before?.lastSeq ?? 0)
                // A shared chain is signed where it ends (checked to hold this writer's head, and
                // held still by the store while this transaction runs), not where this writer left it.
                let signed = store.sharedWriters ? check.head ?? written : written
                let lastSeq = signed?.seq ?? span.lastSeq ?? before?.lastSeq
                let head = signed.map { hex($0.hash) } ?? span.head.map(hex) ?? before?.head
                var d = AuditDigest(
                    cluster: cluster, number: (before?.number ?? 0) + 1, createdAt: now.iso8601,
                    lastSeq: lastSeq, head: head,
                    entries: span.count, firstSeq: span.firstSeq, firstTimestamp: span.firstTimestamp, lastTimestamp: span.lastTimestamp,
                    totalEntries: (before?.totalEntries ?? 0) + span.count,
                    previousDigestSHA256: previous.map { sha256Hex($0.document) },
                    retentionCutoff: retention.map { now.adding(microseconds: -Int64($0 * 1_000_000)).iso8601 },
                    intervalSeconds: interval)
                d.clusters = clusters
                d.problems = check.problems.isEmpty ? nil : check.problems
                try d.sign(with: key)
                try w.insertDigest(StoredDigest(cluster: cluster, number: d.number, createdAt: d.createdAt, lastSeq: d.lastSeq, document: try d.document()))
                return d
            }
        }
        if let directory { try writeFiles(store, directory: directory, clusters: digests.map(\.cluster)) }
        for (cluster, problems) in found {
            store.writtenHeads.refuse(cluster, because: "found at digest time: " + problems.joined(separator: "; "))
        }
        if !found.isEmpty {
            throw IntegrityError(
                "the audit chain was changed behind the writer's back (signed into the digest; appends refused): "
                    + found.sorted { $0.key < $1.key }
                    .map { "cluster \($0.key): \($0.value.joined(separator: "; "))" }.joined(separator: " | "))
        }
        return digests
    }

    /// Writes each cluster's digest files that are not on disk yet (the new ones, and any whose
    /// write failed before), newest first, back to the last one present.
    func writeFiles(_ store: any Store, directory: String, clusters: [String]) throws {
        for cluster in clusters {
            let dir = directory + "/" + Self.safeName(cluster)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for stored in try store.digests(cluster: cluster, newest: 100).reversed() {
                let path = dir + "/" + String(format: "%010d.json", stored.number)
                if FileManager.default.fileExists(atPath: path) { break }
                try Data((stored.document + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            }
        }
    }

    /// A directory name per cluster: bytes outside [A-Za-z0-9_-] percent-encoded, so names
    /// never collide and never climb out of the directory.
    static func safeName(_ cluster: String) -> String {
        var out = ""
        for b in cluster.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F {
                out.unicodeScalars.append(UnicodeScalar(b))
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out.isEmpty ? "%" : out
    }

    /// The digests in a directory written by `write` (or copied from one), by cluster.
    public static func load(directory: String) throws -> [String: [String]] {
        var byCluster: [String: [String]] = [:]
        guard let walk = FileManager.default.enumerator(atPath: directory) else { throw IntegrityError("cannot read \(directory)") }
        while let name = walk.nextObject() as? String {
            guard name.hasSuffix(".json") else { continue }
            let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let d = try AuditDigest.parse(text)
            byCluster[d.cluster, default: []].append(text)
        }
        return byCluster
    }
}

public struct IntegrityError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
