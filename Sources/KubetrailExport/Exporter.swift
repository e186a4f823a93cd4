import Crypto
import Foundation
import KubetrailCore
import KubetrailParquet
import KubetrailStore
import KubetrailTables

/// `kubetrail export`: one table's rows in a time range (and an optional SQL condition) from
/// the local store into files of a size limit, with a signed manifest. Rows stream from the
/// query to the files; nothing holds the result.
public struct Exporter {
    public struct Options: Sendable {
        public var table: String
        public var from: Timestamp?
        public var to: Timestamp?
        public var whereClause: String?
        public var format: ExportFormat = .csv
        public var layout: ExportLayout = .flat
        public var parquet = ParquetWriter.Options()
        public var directory: String
        public var maxFileBytes = 256 << 20
        public var exportedAt = Timestamp.now

        public init(table: String, directory: String) {
            self.table = table
            self.directory = directory
        }
    }

    public static let tool = "kubetrail 0.1.0"

    let store: SQLiteStore
    let options: Options
    public var progress: ((Int) -> Void)?

    public init(store: SQLiteStore, options: Options) {
        self.store = store
        self.options = options
    }

    var parquetOptions: ParquetWriter.Options {
        var o = options.parquet
        o.createdBy = Self.tool
        return o
    }

    /// The query an export runs, in the store's SQL dialect.
    public var sql: String {
        var conditions: [String] = []
        if let from = options.from { conditions.append("tp_timestamp >= '\(from.iso8601)'") }
        if let to = options.to { conditions.append("tp_timestamp < '\(to.iso8601)'") }
        if let w = options.whereClause, !w.trimmingCharacters(in: .whitespaces).isEmpty { conditions.append("(\(w))") }
        return "SELECT * FROM \(options.table)" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY tp_timestamp, tp_id"
    }

    /// Writes the files and `manifest.json` (signed when a key is given); returns the manifest.
    @discardableResult
    public func run(signingKey: Curve25519.Signing.PrivateKey?) throws -> ExportManifest {
        guard let table = KubernetesTables.all.first(where: { $0.name == options.table }) else {
            throw ExportError("unknown table \(options.table); export takes \(KubernetesTables.all.map(\.name).joined(separator: ", "))")
        }
        guard options.layout == .flat || options.format == .parquet else {
            throw ExportError("the \(options.layout.rawValue) layout is for Parquet files")
        }
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: options.directory)) ?? []
        guard existing.isEmpty else { throw ExportError("\(options.directory) is not empty: an export goes into a directory of its own") }
        var sink: any ExportSink = if options.format == .parquet {
            ParquetExportSink(directory: options.directory, table: table, layout: options.layout, maxFileBytes: options.maxFileBytes, options: parquetOptions)
        } else {
            RollingFileSink(directory: options.directory, baseName: options.table, format: options.format, maxFileBytes: options.maxFileBytes)
        }
        sink.onRow = progress
        try store.query(sql, into: sink)
        let tally = sink.tally
        var manifest = ExportManifest(
            table: options.table, format: options.format.rawValue, from: options.from?.iso8601, to: options.to?.iso8601,
            whereClause: options.whereClause, columns: tally.columns.map(\.name), rowCount: tally.rows,
            firstTimestamp: tally.firstTimestamp, lastTimestamp: tally.lastTimestamp, files: sink.files,
            tool: Self.tool, exportedAt: options.exportedAt.iso8601)
        if options.format == .parquet {
            manifest.layout = options.layout.rawValue
            manifest.compression = options.parquet.compression.rawValue
        }
        if table.name == AuditLogRow.schema.name {
            manifest.chain = try store.chainHeads().map { c in
                ExportManifest.ChainPosition(cluster: c.cluster, lastSeq: c.lastSeq, head: c.head.map { String(format: "%02x", $0) }.joined(),
                                             entries: c.entries, lastDigest: try store.digests(cluster: c.cluster).last?.number)
            }
        }
        if let signingKey { try manifest.sign(with: signingKey) }
        try manifest.encoded().write(to: URL(fileURLWithPath: options.directory + "/manifest.json"))
        return manifest
    }
}
