/// Writes one Parquet file through `emit`: rows are appended column by column into a row group
/// that is encoded and written when it reaches `rowGroupRows` rows or `rowGroupBytes` of
/// buffered values, so memory stays bounded however many rows pass through. `close()` writes
/// the footer (Thrift compact `FileMetaData`).
public final class ParquetWriter {
    public struct Options: Sendable {
        public var compression: ParquetCompression = .zstd
        public var compressionLevel: Int32?
        public var rowGroupRows = 122_880
        public var rowGroupBytes = 64 << 20
        public var pageSize = 1 << 20
        public var createdBy = "kubetrail"
        public var keyValueMetadata: [(String, String)] = []
        public init() {}
    }

    public let columns: [ParquetColumn]
    let options: Options
    private let buffers: [ColumnChunkBuffer]
    private let compressor: PageCompressor
    private let emit: ([UInt8]) throws -> Void
    private var rowGroups: [(rows: Int, chunks: [ColumnChunkMetadata])] = []
    private var rowsInGroup = 0
    public private(set) var rows = 0
    public private(set) var bytesWritten = 0
    private var closed = false

    public init(columns: [ParquetColumn], options: Options = .init(), emit: @escaping ([UInt8]) throws -> Void) throws {
        self.columns = columns
        self.options = options
        self.emit = emit
        buffers = columns.map(ColumnChunkBuffer.init)
        compressor = try PageCompressor(options.compression, level: options.compressionLevel)
        try write(Array("PAR1".utf8))
    }

    // One value per column per row, in column order; then `endRow()`.
    public func appendNull(_ column: Int) throws { try buffers[column].appendNull() }
    public func append(_ column: Int, int64 v: Int64) { buffers[column].append(int64: v) }
    public func append(_ column: Int, int32 v: Int32) { buffers[column].append(int32: v) }
    public func append(_ column: Int, bool v: Bool) { buffers[column].append(bool: v) }
    public func append(_ column: Int, string bytes: UnsafeRawBufferPointer) { buffers[column].append(string: bytes) }
    public func append(_ column: Int, string s: String) {
        var s = s
        s.withUTF8 { buffers[column].append(string: UnsafeRawBufferPointer($0)) }
    }
    public func append(_ column: Int, list: [String]) { buffers[column].append(list: list) }
    public func append(_ column: Int, listOf count: Int, _ element: (Int) -> UnsafeRawBufferPointer) {
        buffers[column].append(listOf: count, element)
    }

    public func endRow() throws {
        rowsInGroup += 1
        rows += 1
        // Checking the size every 64 rows is enough: no single row is large next to the limit.
        if rowsInGroup >= options.rowGroupRows || (rowsInGroup & 63 == 0 && bufferedBytes >= options.rowGroupBytes) {
            try flushRowGroup()
        }
    }

    public var bufferedBytes: Int { buffers.reduce(0) { $0 + $1.bufferedBytes } }

    /// About the bytes the file will have once the buffered row group is written, assuming it
    /// compresses as the row groups before it did.
    public var projectedBytes: Int {
        let ratio = uncompressedWritten > 0 ? Double(bytesWritten) / Double(uncompressedWritten) : 1
        return bytesWritten + Int(Double(bufferedBytes) * ratio)
    }
    private var uncompressedWritten = 0

    public func flushRowGroup() throws {
        guard rowsInGroup > 0 else { return }
        for b in buffers where b.rows != rowsInGroup {
            throw ParquetError("column \(b.column.name) has \(b.rows) values for \(rowsInGroup) rows")
        }
        let encoder = ColumnChunkEncoder(pageSize: options.pageSize)
        var chunks: [ColumnChunkMetadata] = []
        for b in buffers {
            chunks.append(try encoder.write(b, compressor: compressor, at: bytesWritten) { try write($0) })
            b.reset()
        }
        rowGroups.append((rowsInGroup, chunks))
        uncompressedWritten += chunks.reduce(0) { $0 + $1.uncompressedBytes }
        rowsInGroup = 0
    }

    public func close() throws {
        guard !closed else { return }
        try flushRowGroup()
        closed = true
        let footer = FileMetadataWriter(columns: columns, rowGroups: rowGroups, rows: rows, options: options).bytes()
        try write(footer)
        try write(le(UInt32(footer.count)))
        try write(Array("PAR1".utf8))
    }

    private func write(_ bytes: [UInt8]) throws {
        try emit(bytes)
        bytesWritten += bytes.count
    }
}
