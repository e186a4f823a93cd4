import Crypto
import Foundation
import KubetrailCore

/// A signed statement about one cluster's audit chain at a moment: how far it reached (last
/// entry and chain head), what the interval since the previous digest added (entries, time
/// range), and the hash of that previous digest, so digests form a chain of their own and a
/// removed one leaves a visible break.
public struct AuditDigest: Codable, Equatable, Sendable, SignedDocument {
    public var formatVersion = 1
    public var cluster: String
    public var number: Int
    public var createdAt: String
    /// The chain's last entry and head when the digest was made (nil: the chain is empty).
    public var lastSeq: Int64?
    public var head: String?
    /// Entries added since the previous digest, and their tp_timestamp range.
    public var entries: Int
    public var firstSeq: Int64?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    /// Entries in the chain since it began (previous digest's total + entries).
    public var totalEntries: Int
    public var previousDigestSHA256: String?
    /// Audit rows older than this may be gone by retention (nil: kept forever).
    public var retentionCutoff: String?
    public var intervalSeconds: Double
    /// Every cluster with a chain when the digest was made: a cluster removed whole from the
    /// store is still named by the others' digests.
    public var clusters: [String]?
    /// What the writer found wrong with the stored chain when it made this digest.
    public var problems: [String]?
    public var signature: DocumentSignature?

    enum CodingKeys: String, CodingKey {
        case cluster, number, head, entries, signature, clusters, problems
        case formatVersion = "format_version"
        case createdAt = "created_at"
        case lastSeq = "last_seq"
        case firstSeq = "first_seq"
        case firstTimestamp = "first_tp_timestamp"
        case lastTimestamp = "last_tp_timestamp"
        case totalEntries = "total_entries"
        case previousDigestSHA256 = "previous_digest_sha256"
        case retentionCutoff = "retention_cutoff"
        case intervalSeconds = "interval_seconds"
    }

    /// The document as stored and shipped (sorted keys, one line).
    public func document() throws -> String { String(decoding: try Self.encoder.encode(self), as: UTF8.self) }

    public static func parse(_ document: String) throws -> AuditDigest {
        try JSONDecoder().decode(AuditDigest.self, from: Data(document.utf8))
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}

func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.encode(bytes) }

func sha256Hex(_ text: String) -> String { hex(SHA256.hash(data: Data(text.utf8))) }
