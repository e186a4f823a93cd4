import Foundation
import KubetrailCore
import KubetrailStore
import KubetrailTables

/// SQL run on an aggregator (`POST /v1/query`, format `rows`, query token), its rows streamed
/// into a sink as they arrive: what `report --server` and `detect --server` read with.
public struct RemoteSQL: Sendable {
    public var server: String
    public var token: String
    public var caFile: String?
    /// Seconds without a byte before the answer counts as stalled.
    public var stallTimeout: Double = 120

    public init(server: String, token: String, caFile: String? = nil) {
        self.server = server
        self.token = token
        self.caFile = caFile
    }

    /// Runs `sql`; returns the engine the aggregator's store runs on (nil from one that does
    /// not say: older than this header).
    @discardableResult
    public func run(_ sql: String, into sink: some QuerySink) throws -> SQLEngine? {
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
            throw ExportError("--server must be an http:// or https:// URL, got \(server)")
        }
        var options = CurlHTTPClient.Options(caFile: caFile)
        options.timeout = stallTimeout
        let client = try CurlHTTPClient(options: options)
        let body = try JSONSerialization.data(withJSONObject: ["sql": sql, "format": "rows"])
        let url = server.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/v1/query"
        let parser = RowsStreamParser(sink: sink, activity: .query)
        let response: CurlHTTPClient.Response
        do {
            response = try client.stream(url, body: Array(body), headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]) {
                parser.feed($0)
            }
        } catch let failure as CurlHTTPClient.Failure {
            if let error = parser.error { throw error }
            throw ExportError("cannot query \(server): \(failure.message)")
        }
        guard response.status == 200 else {
            let reason = ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["error"] as? String
            throw ExportError("the aggregator refused the query (\(response.status)): \(reason ?? response.text)")
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
            throw ExportError("the aggregator at \(server) does not say which SQL engine it runs (\(SQLEngine.header)): upgrade it")
        }
        return engine
    }
}
