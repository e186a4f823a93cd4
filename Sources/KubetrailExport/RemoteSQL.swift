import Foundation
import KubetrailCore
import KubetrailCurl
import KubetrailStore
import KubetrailTables

/// SQL run on an aggregator (`POST /v1/query`, format `rows`, query token), its rows streamed
/// into a sink as they arrive: what `report --server` and `detect --server` read with.
public struct RemoteSQL: Sendable {
    public var endpoint: AggregatorEndpoint
    /// Seconds without a byte before the answer counts as stalled.
    public var stallTimeout: Double = 120

    public init(server: String, token: String, caFile: String? = nil) {
        endpoint = AggregatorEndpoint(server: server, token: token, caFile: caFile)
    }

    /// Runs `sql`; returns the engine the aggregator's store runs on (nil from one that does
    /// not say: older than this header).
    @discardableResult
    public func run(_ sql: String, into sink: some QuerySink) throws -> SQLEngine? {
        let client = try endpoint.client(stallTimeout: stallTimeout)
        let body = try JSONSerialization.data(withJSONObject: ["sql": sql, "format": "rows"])
        let url = endpoint.url("/v1/query")
        let parser = RowsStreamParser(sink: sink, activity: .query)
        let response: CurlHTTPClient.Response
        do {
            response = try client.stream(url, body: Array(body), headers: [endpoint.authorization, ("Content-Type", "application/json")]) {
                parser.feed($0)
            }
        } catch let failure as CurlHTTPClient.Failure {
            if let error = parser.error { throw error }
            throw ExportError("cannot query \(endpoint.server): \(failure.message)")
        }
        guard response.status == 200 else {
            throw ExportError("the aggregator refused the query (\(response.status)): \(AggregatorEndpoint.reason(response))")
        }
        if let error = parser.error { throw error }
        try parser.finish()
        return response.headers[SQLEngine.header.lowercased()].flatMap(SQLEngine.init(rawValue:))
    }

    /// The engine behind the aggregator, asked with a query that reads nothing.
    public func engine() throws -> SQLEngine {
        final class Nothing: QuerySink {
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) {}
            func end() {}
        }
        guard let engine = try run("SELECT 1", into: Nothing()) else {
            throw ExportError("the aggregator at \(endpoint.server) does not say which SQL engine it runs (\(SQLEngine.header)): upgrade it")
        }
        return engine
    }
}
