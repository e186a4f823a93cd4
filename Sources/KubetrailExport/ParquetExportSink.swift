import Foundation
import KubetrailParquet
import KubetrailStore
import KubetrailTables

/// Writes a query's rows as Parquet: into numbered files of about `maxFileBytes` each, or, in
/// the Tailpipe layout, into one directory per (partition, index, date) with those columns in
/// the path instead of the files — the layout DuckDB's `COPY … PARTITION_BY` writes.
final class ParquetExportSink: ExportSink, RawQuerySink {
    static let partitionColumns = ["tp_table", "tp_partition", "tp_index", "tp_date"]

    let directory: String
    let table: TableSchema
    let layout: ExportLayout
    let maxFileBytes: Int
    let options: ParquetWriter.Options
    private(set) var tally = ExportTally()
    private(set) var files: [ExportManifest.File] = []
    var onRow: ((Int) -> Void)?

    private var mapping: ParquetColumns!
    private var partitionIndices: [Int] = []
    /// The open file of each directory, and how many files each directory has had.
    private var open: [String: OpenFile] = [:]
    private var fileNumbers: [String: Int] = [:]

    private final class OpenFile {
        let dir: String, date: String
        let file: HashedFile
        let writer: ParquetWriter
        init(dir: String, date: String, file: HashedFile, writer: ParquetWriter) {
            self.dir = dir; self.date = date; self.file = file; self.writer = writer
        }
    }

    init(directory: String, table: TableSchema, layout: ExportLayout, maxFileBytes: Int, options: ParquetWriter.Options) {
        self.directory = directory
        self.table = table
        self.layout = layout
        self.maxFileBytes = maxFileBytes
        self.options = options
    }

    func begin(columns: [QueryColumn]) throws {
        tally.begin(columns)
        if layout == .tailpipe {
            partitionIndices = try Self.partitionColumns.map { name in
                guard let i = columns.firstIndex(where: { $0.name == name }) else { throw ExportError("the Tailpipe layout needs column \(name)") }
                return i
            }
            mapping = ParquetColumns(columns: columns, table: table, excluding: Set(Self.partitionColumns))
        } else {
            mapping = ParquetColumns(columns: columns, table: table)
        }
    }

    func row(_ values: [QueryValue]) throws {
        let current = try file(for: location { values[$0] })
        try mapping.append(values, to: current.writer)
        tally.count(values)
        try written(current)
    }

    func row(raw: StoreRow) throws {
        let current = try layout == .flat ? open[""] ?? file(for: ("", "")) : file(for: location { raw.value($0) })
        try mapping.append(raw: raw, to: current.writer)
        tally.count(raw: raw)
        try written(current)
    }

    private func file(for location: (dir: String, date: String)) throws -> OpenFile {
        if let o = open[location.dir] { return o }
        // Rows come in time order: a new day means the directories of earlier days are done.
        if layout == .tailpipe { for (d, o) in open where o.date < location.date { try finish(d) } }
        return try start(location.dir, date: location.date)
    }

    private func written(_ current: OpenFile) throws {
        current.file.rows += 1
        // The size is summed over every column: look every 64 rows, or every row for small files.
        if (current.file.rows & 63 == 0 || maxFileBytes < 1 << 20) && current.writer.projectedBytes >= maxFileBytes { try finish(current.dir) }
        onRow?(tally.rows)
    }

    func end() throws {
        // An empty export still has its file (schema, no rows).
        if files.isEmpty && open.isEmpty && layout == .flat { try start("", date: "") }
        for dir in open.keys.sorted() { try finish(dir) }
    }

    /// The directory and day of a row, from its partition columns.
    private func location(_ value: (Int) -> QueryValue) -> (dir: String, date: String) {
        guard layout == .tailpipe else { return ("", "") }
        var parts: [String] = []
        for (name, i) in zip(Self.partitionColumns, partitionIndices) {
            let text: String =
                switch value(i) {
                case .text(let s): s
                case .int(let v): String(v)
                default: "__HIVE_DEFAULT_PARTITION__"
                }
            parts.append(name + "=" + Self.escape(text))
        }
        let date = if case .text(let d) = value(partitionIndices[3]) { d } else { "" }
        return (parts.joined(separator: "/"), date)
    }

    /// Hive's escaping of partition values: path separators, `=`, `%` and control characters
    /// as %XX, so no value can climb out of its directory.
    static func escape(_ s: String) -> String {
        guard !s.isEmpty else { return "__HIVE_DEFAULT_PARTITION__" }
        var out: [UInt8] = []
        for b in s.utf8 {
            if b < 0x20 || b == 0x7F || "/\\=%:\"'*?<>|#{}[]^".utf8.contains(b) || (out.isEmpty && b == UInt8(ascii: ".")) {
                out += Array(String(format: "%%%02X", b).utf8)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    @discardableResult
    private func start(_ dir: String, date: String) throws -> OpenFile {
        let n = (fileNumbers[dir] ?? 0) + 1
        fileNumbers[dir] = n
        let name = (dir.isEmpty ? "" : dir + "/") + "\(table.name)-\(String(format: "%04d", n)).parquet"
        let file = try HashedFile(directory: directory, name: name)
        var options = options
        options.keyValueMetadata.append(("kubetrail.table", table.name))
        let writer = try ParquetWriter(columns: mapping.schema, options: options) { try file.write($0) }
        let o = OpenFile(dir: dir, date: date, file: file, writer: writer)
        open[dir] = o
        return o
    }

    private func finish(_ dir: String) throws {
        guard let o = open.removeValue(forKey: dir) else { return }
        try o.writer.close()
        files.append(try o.file.finish())
    }
}
