import KubetrailStore

/// What every export sink counts for the manifest: rows, columns, and the first and last
/// `tp_timestamp` (RFC 3339 text in UTC sorts as time does).
struct ExportTally {
    private(set) var columns: [QueryColumn] = []
    private(set) var rows = 0
    private(set) var firstTimestamp: String?
    private(set) var lastTimestamp: String?
    private var timestampIndex: Int?

    mutating func begin(_ columns: [QueryColumn]) {
        self.columns = columns
        timestampIndex = columns.firstIndex { $0.name == "tp_timestamp" }
    }

    mutating func count(_ values: [QueryValue]) {
        rows += 1
        if let i = timestampIndex, case .text(let t) = values[i] {
            if firstTimestamp == nil || t < firstTimestamp! { firstTimestamp = t }
            if lastTimestamp == nil || t > lastTimestamp! { lastTimestamp = t }
        }
    }
}

/// A sink that writes an export's files.
protocol ExportSink: QuerySink {
    var tally: ExportTally { get }
    var files: [ExportManifest.File] { get }
    var onRow: ((Int) -> Void)? { get set }
}
