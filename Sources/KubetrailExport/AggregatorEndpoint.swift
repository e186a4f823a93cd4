import Foundation
import KubetrailCore
import KubetrailCurl

/// An aggregator as the CLI reaches it (`--server`, a query token, the CA that verifies it):
/// what remote export, remote SQL and remote follow share.
public struct AggregatorEndpoint: Sendable {
    public var server: String
    public var token: String
    public var caFile: String?

    public init(server: String, token: String, caFile: String? = nil) {
        self.server = server
        self.token = token
        self.caFile = caFile
    }

    /// A client for it: a connection silent for `stallTimeout` seconds counts as dead.
    func client(stallTimeout: Double, maxResponseBytes: Int? = nil, acceptEncoding: String? = nil) throws -> CurlHTTPClient {
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
            throw ExportError("--server must be an http:// or https:// URL, got \(server)")
        }
        var options = CurlHTTPClient.Options(caFile: caFile)
        options.timeout = stallTimeout
        if let maxResponseBytes { options.maxResponseBytes = maxResponseBytes }
        options.acceptEncoding = acceptEncoding
        return try CurlHTTPClient(options: options)
    }

    var authorization: (String, String) { ("Authorization", "Bearer \(token)") }

    /// `server` + `path` + the parameters, percent-encoded.
    func url(_ path: String, _ query: [(String, String)] = []) -> String {
        let base = server.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path
        guard !query.isEmpty else { return base }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return base + "?" + query.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    /// What a refusal says: its JSON `error`, else its text.
    static func reason(_ response: CurlHTTPClient.Response) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["error"] as? String ?? response.text
    }
}
