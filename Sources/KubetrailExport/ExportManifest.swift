import Crypto
import Foundation
import KubetrailIntegrity

/// `manifest.json` of an export: what was asked for, what was written (each file's size, rows
/// and SHA-256), and an Ed25519 signature over all of it, so whoever holds the export can tell
/// that it is complete and unaltered.
public struct ExportManifest: Codable, Equatable, Sendable, SignedDocument {
    public struct File: Codable, Equatable, Sendable {
        public var name: String
        public var bytes: Int
        public var rows: Int
        public var sha256: String
    }

    /// Where the store's audit chain stood when the export ran, per cluster: an auditor can ask
    /// `kubetrail verify` about the same position later.
    public struct ChainPosition: Codable, Equatable, Sendable {
        public var cluster: String
        public var lastSeq: Int64
        public var head: String
        public var entries: Int
        public var lastDigest: Int?
        enum CodingKeys: String, CodingKey {
            case cluster, head, entries
            case lastSeq = "last_seq"
            case lastDigest = "last_digest"
        }
    }

    public var formatVersion = 1
    public var table: String
    public var format: String
    public var from: String?
    public var to: String?
    public var whereClause: String?
    public var columns: [String]
    public var rowCount: Int
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var files: [File]
    /// Parquet only: `flat` or `tailpipe` (hive partitions), and the page codec.
    public var layout: String?
    public var compression: String?
    public var chain: [ChainPosition]?
    /// The aggregator the rows came from (nil: the local store).
    public var source: String?
    public var tool: String
    public var exportedAt: String
    public var signature: DocumentSignature?

    enum CodingKeys: String, CodingKey {
        case table, format, from, to, columns, files, tool, signature, layout, compression, chain, source
        case formatVersion = "format_version"
        case whereClause = "where"
        case rowCount = "row_count"
        case firstTimestamp = "first_tp_timestamp"
        case lastTimestamp = "last_tp_timestamp"
        case exportedAt = "exported_at"
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
