import KubetrailStore

/// What every export sink counts for the manifest: rows, columns, and the first and last
/// `tp_timestamp` (RFC 3339 text in UTC sorts as time does).
struct ExportTally {
    private(set) var columns: [QueryColumn] = []
    private(set) var rows = 0
    private var first: [UInt8]?
    private var last: [UInt8]?
    private var timestampIndex: Int?

    var firstTimestamp: String? { first.map { String(decoding: $0, as: UTF8.self) } }
    var lastTimestamp: String? { last.map { String(decoding: $0, as: UTF8.self) } }

    mutating func begin(_ columns: [QueryColumn]) {
        self.columns = columns
        timestampIndex = columns.firstIndex { $0.name == "tp_timestamp" }
    }

    mutating func count(raw row: StoreRow) {
        rows += 1
        guard let i = timestampIndex, row.kind(i) == .text else { return }
        see(row.bytes(i))
    }

    mutating func count(_ values: [QueryValue]) {
        rows += 1
        guard let i = timestampIndex, case .text(var t) = values[i] else { return }
        t.withUTF8 { see(UnsafeRawBufferPointer($0)) }
    }

    private mutating func see(_ t: UnsafeRawBufferPointer) {
        if first == nil || t.lexicographicallyPrecedes(first!) { first = Array(t) }
        // Rows mostly come in time order: the last one is replaced in place.
        if last == nil { last = Array(t) } else if last!.lexicographicallyPrecedes(t) { last!.replaceSubrange(0..., with: t) }
    }
}

/// A sink that writes an export's files.
protocol ExportSink: QuerySink {
    var tally: ExportTally { get }
    var files: [ExportManifest.File] { get }
    var onRow: ((Int) -> Void)? { get set }
}
