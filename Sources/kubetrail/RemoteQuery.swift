import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KubetrailStore
import KubetrailTables

/// `kubetrail query --server URL --token-file F`: runs the SQL on an aggregator and renders the
/// typed row stream with the same output formats as a local query.
enum RemoteQuery {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func run(sql: String, server: String, tokenFile: String, format: OutputFormat) async throws {
        let token = try readToken(tokenFile)
        warnIfPlainHTTP(server)
        guard let base = URL(string: server), base.scheme == "http" || base.scheme == "https" else {
            throw Failure(description: "--server must be an http:// or https:// URL, got \(server)")
        }
        var request = URLRequest(url: base.appendingPathComponent("v1/query"))
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: ["sql": sql, "format": "rows"])
        request.timeoutInterval = 120
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw Failure(description: "cannot reach \(server): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else {
            let reason = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["error"] as? String
            throw Failure(description: reason ?? "server answered \(status)")
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
