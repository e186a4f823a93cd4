import KubetrailCore

/// How the shipper's batches reach the aggregator: one POST, answered or failed. Production
/// sends them with libcurl; in-process tests script the aggregator's answers.
protocol IngestTransport: AnyObject {
    func post(_ url: String, body: [UInt8], headers: [(String, String)]) throws -> CurlHTTPClient.Response
}

extension CurlHTTPClient: IngestTransport {}
