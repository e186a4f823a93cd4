import Foundation
import KubetrailCore
import KubetrailCurl
import KubetrailStore

/// A follow from an aggregator (`GET /v1/tail`, query token), kept going across dropped
/// connections and aggregator restarts by resuming from the last cursor it was sent.
///
/// Rows of a page are held until the page's cursor line arrives: a connection lost between a
/// page's rows and its cursor would otherwise show those rows again after the resume. The
/// history before the first cursor (from `since`) passes straight through, as it may be large;
/// losing the connection during it is an error, not a silent restart that repeats rows.
public struct RemoteFollow: Sendable {
    public var endpoint: AggregatorEndpoint
    /// Seconds without a byte before the connection counts as dead (the server sends
    /// keep-alives every 2 s).
    public var stallTimeout: Double = 30
    /// The longest wait between reconnection attempts.
    public var maxBackoff: Double = 10

    public init(server: String, token: String, caFile: String? = nil) {
        endpoint = AggregatorEndpoint(server: server, token: token, caFile: caFile)
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    func url(table: String, condition: String?, since: String?, cursor: String?) -> String {
        var query = [("table", table)]
        if let condition { query.append(("where", condition)) }
        if let cursor { query.append(("cursor", cursor)) } else if let since { query.append(("since", since)) }
        return endpoint.url("/v1/tail", query)
    }

    /// Follows until `shouldStop` or an error a retry cannot mend (a refusal, a cursor that
    /// cannot be resumed, a sink that fails). `report` hears about reconnections.
    ///
    /// Not `follow`: ends once the history is read (at the first cursor).
    public func run(
        table: String, condition: String?, since: String?, cursor start: String? = nil, into sink: any QuerySink, follow: Bool = true,
        afterChunk: @escaping () -> Void = {}, cursorChanged: @escaping (String) throws -> Void = { _ in },
        shouldStop: @escaping @Sendable () -> Bool = { false }, report: (String) -> Void = { _ in }
    ) throws {
        // A refusal's body is read whole: a megabyte at most; the rows go to the parser. Every
        // encoding libcurl can decode is offered: the aggregator sends zstd, a tenth of the bytes.
        let client = try endpoint.client(stallTimeout: stallTimeout, maxResponseBytes: 1 << 20, acceptEncoding: "")
        let pages = PageBuffer(sink)
        var cursor = start
        var backoff = 0.5
        // The same error again and again at one position is the rows', not the connection's
        // (a value over the server's limit, a condition failing on one row): said, not retried forever.
        var repeated: (message: String, cursor: String?, times: Int) = ("", nil, 0)
        while !shouldStop() {
            let parser = RowsStreamParser(sink: pages, activity: .follow)
            var historyRead = false
            parser.onCursor = { c in
                cursor = c
                try pages.commit()
                try cursorChanged(c)
                historyRead = true
            }
            pages.holding = cursor != nil
            let response: CurlHTTPClient.Response?
            var lost: String?
            do {
                response = try client.stream(
                    url(table: table, condition: condition, since: since, cursor: cursor),
                    headers: [endpoint.authorization, ("Accept", "application/x-ndjson")]
                ) { chunk in
                    let more = !shouldStop() && parser.feed(chunk)
                    afterChunk()
                    return more && (follow || !historyRead)
                }
            } catch let failure as CurlHTTPClient.Failure {
                response = nil
                lost = failure.message
            }
            if shouldStop() || (!follow && historyRead) { return }
            if let response, response.status != 200 {
                let reason = AggregatorEndpoint.reason(response)
                guard response.status == 503 || response.status >= 502 else {
                    throw Failure(description: "the aggregator refused the follow (\(response.status)): \(reason)")
                }
                lost = "the aggregator is busy (\(response.status)): \(reason)"
            } else if let error = parser.error {
                // The server's own error line (a follower cut for reading too slowly, a limit)
                // is resumed from; anything else the parser or the sink refused is not.
                guard let message = parser.serverError else { throw error }
                repeated = repeated.message == message && repeated.cursor == cursor ? (message, cursor, repeated.times + 1) : (message, cursor, 1)
                if repeated.times >= 3 { throw Failure(description: "the aggregator stopped the follow three times at one position: \(message)") }
                lost = message
            } else if lost == nil {
                lost = "the aggregator closed the connection"
            }
            pages.drop()
            guard cursor != nil else {
                throw Failure(description: "the connection was lost before the history from --since was complete (\(lost ?? "")); run again")
            }
            if pages.delivered { backoff = 0.5 }
            pages.delivered = false
            report("\(lost ?? "connection lost"); resuming in \(backoff) s")
            Thread.sleep(forTimeInterval: backoff)
            backoff = min(maxBackoff, backoff * 2)
        }
    }
}

/// Holds a page's rows until its cursor line; passes the columns on once per follow (across reconnections).
final class PageBuffer: QuerySink {
    let sink: FollowSink
    var holding = false
    var delivered = false
    private var held: [[QueryValue]] = []

    init(_ sink: any QuerySink) { self.sink = FollowSink(sink) }

    func begin(columns: [QueryColumn]) throws { try sink.begin(columns: columns) }

    func row(_ values: [QueryValue]) throws {
        delivered = true
        if holding { held.append(values) } else { try sink.row(values) }
    }

    func end() throws {}

    /// The page's cursor arrived: its rows are the client's now.
    func commit() throws {
        holding = true
        let rows = held
        held = []
        for r in rows { try sink.row(r) }
    }

    func drop() { held = [] }
}
