import Foundation
import KubetrailCore
import KubetrailCurl
import KubetrailStore

/// An export's rows from an aggregator (`GET /v1/export`, query token): the typed `rows` stream
/// parsed line by line as it arrives and fed to the same sinks as a local export, so memory
/// stays flat. An answer that ends without its end marker is an error, never a short export.
public struct RemoteRows: Sendable {
    public var endpoint: AggregatorEndpoint
    /// Seconds without a byte before the stream counts as stalled.
    public var stallTimeout: Double = 120

    public init(server: String, token: String, caFile: String? = nil) {
        endpoint = AggregatorEndpoint(server: server, token: token, caFile: caFile)
    }

    func url(table: String, from: Timestamp?, to: Timestamp?, whereClause: String?) -> String {
        var query = [("table", table)]
        if let from { query.append(("from", from.iso8601)) }
        if let to { query.append(("to", to.iso8601)) }
        if let whereClause { query.append(("where", whereClause)) }
        return endpoint.url("/v1/export", query)
    }

    /// Streams the rows into `sink`; returns the audit chain position the server reported.
    func run(table: String, from: Timestamp?, to: Timestamp?, whereClause: String?, into sink: some QuerySink) throws -> [ExportManifest.ChainPosition]? {
        let client = try endpoint.client(stallTimeout: stallTimeout)
        let parser = RowsStreamParser(sink: sink)
        let response: CurlHTTPClient.Response
        do {
            response = try client.stream(
                url(table: table, from: from, to: to, whereClause: whereClause),
                headers: [endpoint.authorization, ("Accept", "application/x-ndjson")]
            ) { parser.feed($0) }
        } catch let failure as CurlHTTPClient.Failure {
            if let error = parser.error { throw error }
            throw ExportError("cannot export from \(endpoint.server): \(failure.message)")
        }
        guard response.status == 200 else {
            throw ExportError("the aggregator refused the export (\(response.status)): \(AggregatorEndpoint.reason(response))")
        }
        if let error = parser.error { throw error }
        try parser.finish()
        return try response.headers["x-kubetrail-chain"].map {
            try JSONDecoder().decode([ExportManifest.ChainPosition].self, from: Data($0.utf8))
        }
    }
}

/// Parses the `rows` stream (RowsFormatSink) from arbitrary chunks: a columns header, one JSON
/// array per row, then `{"end":true}` or `{"error":…}`.
final class RowsStreamParser {
    let sink: any QuerySink
    private var pending: [UInt8] = []
    private var begun = false
    private(set) var ended = false
    private(set) var error: Error?
    private var columns = 0

    let maxLineBytes: Int
    let activity: Activity
    /// A follow's `{"cursor":"…"}` lines, each after the rows of its page.
    var onCursor: ((String) throws -> Void)?
    /// The server's own `{"error":…}` line, as it sent it.
    private(set) var serverError: String?

    /// What the rows are for, which the errors name: an export's files are left without a
    /// manifest; a query's rows are incomplete; a follow's are resumed.
    enum Activity { case export, query, follow }

    init(sink: any QuerySink, activity: Activity = .export, maxLineBytes: Int = RowsStreamParser.maxLineBytes) {
        self.sink = sink
        self.activity = activity
        self.maxLineBytes = maxLineBytes
    }

    /// The longest line taken: a row of the audit table at SQLite's 16 MiB-per-value limit
    /// stays well under it; a peer sending more is refused, not buffered without end.
    static let maxLineBytes = 512 << 20

    /// False stops the transfer (a sink error, a malformed or oversized line).
    func feed(_ chunk: UnsafeRawBufferPointer) -> Bool {
        // Only the new bytes are searched for line ends: a long row arriving in many chunks is
        // not rescanned from its start each time.
        var scan = pending.count
        pending.append(contentsOf: chunk)
        var start = 0
        do {
            try pending.withUnsafeBytes { all in
                while let nl = all[scan...].firstIndex(of: 0x0A) {
                    try line(UnsafeRawBufferPointer(rebasing: all[start..<nl]))
                    start = nl + 1
                    scan = start
                }
            }
            if pending.count - start > maxLineBytes {
                throw ExportError("the aggregator sent a line over \(maxLineBytes) bytes")
            }
        } catch {
            self.error = error
            return false
        }
        pending.removeFirst(start)
        return true
    }

    func finish() throws {
        guard ended else {
            throw ExportError(
                activity == .export
                    ? "the aggregator's answer ended early: the export is incomplete and has no manifest"
                    : "the aggregator's answer ended early: the rows are incomplete")
        }
        try sink.end()
    }

    private func line(_ bytes: UnsafeRawBufferPointer) throws {
        guard let first = bytes.first else { return }
        if ended { throw ExportError("the aggregator sent more after the end of the \(activity)") }
        if first == UInt8(ascii: "[") {
            guard begun else { throw ExportError("the aggregator sent a row before its columns") }
            var s = JSONScanner(bytes)
            var values: [QueryValue] = []
            values.reserveCapacity(columns)
            do {
                try s.enterArray()
                var firstElement = true
                while try s.nextElement(&firstElement) {
                    switch s.peek() {
                    case UInt8(ascii: "\""): values.append(.text(try s.readString() ?? ""))
                    case UInt8(ascii: "n"):
                        _ = try s.consumeNull()
                        values.append(.null)
                    default:
                        let r = try s.skipValue()
                        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
                        if let i = Int64(text) {
                            values.append(.int(i))
                        } else if let d = Double(text) {
                            values.append(.real(d))
                        } else {
                            throw ExportError("the aggregator sent a value kubetrail cannot read: \(text)")
                        }
                    }
                }
            } catch let e as JSONError {
                throw ExportError("the aggregator sent a malformed row: \(e)")
            }
            guard values.count == columns else { throw ExportError("the aggregator sent a row of \(values.count) values for \(columns) columns") }
            try sink.row(values)
            return
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw ExportError("the aggregator sent a line kubetrail cannot read")
        }
        if let cols = object["columns"] as? [[String: Any]] {
            columns = cols.count
            begun = true
            try sink.begin(columns: cols.map { QueryColumn(name: $0["name"] as? String ?? "", declaredType: $0["type"] as? String) })
        } else if let message = object["error"] as? String {
            serverError = message
            switch activity {
            case .export: throw ExportError("the aggregator stopped the export: \(message); the files written are incomplete and have no manifest")
            case .query: throw ExportError("the aggregator stopped the query: \(message)")
            case .follow: throw ExportError("the aggregator stopped the follow: \(message)")
            }
        } else if let cursor = object["cursor"] as? String, activity == .follow {
            try onCursor?(cursor)
        } else if object["end"] != nil {
            ended = true
        }
    }
}
