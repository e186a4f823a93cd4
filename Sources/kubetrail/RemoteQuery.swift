import Foundation
import KubetrailCore
import KubetrailCurl
import KubetrailStore
import KubetrailTables

/// `kubetrail query --server URL --token-file F`: runs the SQL on an aggregator and renders the
/// typed row stream with the same output formats as a local query. The request goes through
/// CurlHTTPClient, like export and report: URLSession follows redirects and takes the
/// Authorization header along to wherever they point.
enum RemoteQuery {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func run(sql: String, server: String, tokenFile: String, format: OutputFormat) throws {
        let token = try readToken(tokenFile)
        warnIfPlainHTTP(server)
        guard let base = URL(string: server), base.scheme == "http" || base.scheme == "https" else {
            throw Failure(description: "--server must be an http:// or https:// URL, got \(server)")
        }
        var options = CurlHTTPClient.Options()
        options.timeout = 120
        let client = try CurlHTTPClient(options: options)
        let body = try JSONSerialization.data(withJSONObject: ["sql": sql, "format": "rows"])
        var data = Data()
        let response: CurlHTTPClient.Response
        do {
            response = try client.stream(
                base.appendingPathComponent("v1/query").absoluteString, body: Array(body),
                headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            ) {
                data.append(contentsOf: $0)
                return true
            }
        } catch let failure as CurlHTTPClient.Failure where failure.code == CurlHTTPClient.redirected {
            throw Failure(description: failure.message)
        } catch {
            throw Failure(description: "cannot reach \(server): \(error)")
        }
        guard response.status == 200 else {
            let reason = ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["error"] as? String
            throw Failure(description: reason ?? "server answered \(response.status)")
        }
        try render(data, format: format)
    }

    /// Renders the `rows` stream: a columns header, row arrays, then an end or error marker.
    static func render(_ data: Data, format: OutputFormat) throws {
        let out = TextOutput()
        let sink = format.sink(writingTo: out)
        var columns: [QueryColumn] = []
        var ended = false
        for line in data.split(separator: 0x0A) where !line.isEmpty {
            let value = try JSONSerialization.jsonObject(with: Data(line))
            if let header = value as? [String: Any] {
                if let cols = header["columns"] as? [[String: Any]] {
                    if !columns.isEmpty { try sink.end() }
                    columns = cols.map { QueryColumn(name: $0["name"] as? String ?? "", declaredType: $0["type"] as? String) }
                    try sink.begin(columns: columns)
                } else if let error = header["error"] as? String {
                    if !columns.isEmpty { try sink.end() }
                    out.flush()
                    throw Failure(description: error + " (the rows above are incomplete)")
                } else if header["end"] != nil {
                    ended = true
                }
            } else if let row = value as? [Any] {
                try sink.row(row.map(queryValue))
            }
        }
        if !columns.isEmpty { try sink.end() }
        out.flush()
        if !ended { throw Failure(description: "the server's answer ended early (the rows above are incomplete)") }
    }

    static func queryValue(_ any: Any) -> QueryValue {
        switch any {
        case is NSNull: return .null
        case let s as String: return .text(s)
        case let n as NSNumber:
            let text = "\(n)"
            if text.contains(".") || text.contains("e") || text.contains("E") { return .real(n.doubleValue) }
            return .int(n.int64Value)
        default: return .text("\(any)")
        }
    }
}
