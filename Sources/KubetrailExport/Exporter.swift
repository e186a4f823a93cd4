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
        /// Rows from an aggregator instead of the local store.
        public var remote: RemoteRows?
        public var directory: String
        public var maxFileBytes = 256 << 20
        public var exportedAt = Timestamp.now

        public init(table: String, directory: String) {
            self.table = table
            self.directory = directory
        }
    }

    public static let tool = "kubetrail 0.1.0"

    let store: (any Store)?
    let options: Options
    public var progress: ((Int) -> Void)?

    /// `store` may be nil when the options name a remote aggregator.
    public init(store: (any Store)?, options: Options) {
        self.store = store
        self.options = options
    }

    var parquetOptions: ParquetWriter.Options {
        var o = options.parquet
        o.createdBy = Self.tool
        return o
    }

    /// The query an export runs, in the store's SQL dialect.
    public var sql: String { Self.sql(table: options.table, from: options.from, to: options.to, whereClause: options.whereClause) }

    /// `table` must be one of the four (checked by the callers): it is not quoted. Ranges and
    /// order use the table's indexed time column, which holds the same instant as
    /// `tp_timestamp` in every table (both are set from one value), so a whole-table export
    /// walks the index instead of sorting the table.
    public static func sql(table: String, from: Timestamp?, to: Timestamp?, whereClause: String?) -> String {
        let time = KubernetesTables.schema(named: table)?.timeColumn ?? "tp_timestamp"
        var conditions: [String] = []
        if let from { conditions.append("\(time) >= '\(from.iso8601)'") }
        if let to { conditions.append("\(time) < '\(to.iso8601)'") }
        if let w = whereClause, !w.trimmingCharacters(in: .whitespaces).isEmpty { conditions.append("(\(w))") }
        return "SELECT * FROM \(table)" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY \(time), tp_id"
    }

    /// Where each cluster's audit chain stands now.
    public static func chainPositions(_ store: any Store) throws -> [ExportManifest.ChainPosition] {
        try store.chainHeads().map { c in
            ExportManifest.ChainPosition(
                cluster: c.cluster, lastSeq: c.lastSeq, head: Hex.encode(c.head),
                entries: c.entries, lastDigest: try store.digests(cluster: c.cluster).last?.number)
        }
    }

    /// Writes the files and `manifest.json` (signed when a key is given); returns the manifest.
    @discardableResult
    public func run(signingKey: Curve25519.Signing.PrivateKey?) throws -> ExportManifest {
        guard let table = KubernetesTables.all.first(where: { $0.name == options.table }) else {
            throw ExportError("unknown table \(options.table); export takes \(KubernetesTables.all.map(\.name).joined(separator: ", "))")
        }
        if let condition = options.whereClause {
            do { try SQLCondition.check(condition) } catch { throw ExportError("--where: \(error)") }
        }
        guard options.layout == .flat || options.format == .parquet else {
            throw ExportError("the \(options.layout.rawValue) layout is for Parquet files")
        }
        try PrivateFile.makeDirectories(options.directory)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: options.directory)) ?? []
        guard existing.isEmpty else { throw ExportError("\(options.directory) is not empty: an export goes into a directory of its own") }
        var sink: any ExportSink =
            if options.format == .parquet {
                ParquetExportSink(
                    directory: options.directory, table: table, layout: options.layout, maxFileBytes: options.maxFileBytes, options: parquetOptions)
            } else {
                RollingFileSink(directory: options.directory, baseName: options.table, format: options.format, maxFileBytes: options.maxFileBytes)
            }
        sink.onRow = progress
        var chain: [ExportManifest.ChainPosition]?
        if let remote = options.remote {
            chain = try remote.run(table: options.table, from: options.from, to: options.to, whereClause: options.whereClause, into: sink)
        } else if let store {
            if table.name == AuditLogRow.schema.name { chain = try Self.chainPositions(store) }
            try store.query(sql, into: sink)
        } else {
            throw ExportError("no store and no aggregator to export from")
        }
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
        manifest.chain = chain
        manifest.source = options.remote?.endpoint.server
        if let signingKey { try manifest.sign(with: signingKey) }
        try PrivateFile.write(manifest.encoded(), to: options.directory + "/manifest.json")
        for file in Set(manifest.files.map { (options.directory + "/" + $0.name as NSString).deletingLastPathComponent }).union([options.directory]) {
            HashedFile.syncDirectory(file)
        }
        return manifest
    }
}
