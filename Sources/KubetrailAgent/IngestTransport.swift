import KubetrailCore

/// How the shipper's batches reach the aggregator: one POST, answered or failed. Production
/// sends them with `IngestHTTPClient`; in-process tests script the aggregator's answers.
protocol IngestTransport: AnyObject {
    func post(_ url: String, body: [UInt8], headers: [(String, String)]) throws -> HTTPReply
}

/// No HTTP answer came. Retryable failures are the network's (name lookup, refused, reset,
/// timeout, a reply cut short); a certificate that does not verify, a redirect or a header
/// that cannot be sent are not, and are reported with that hint.
public struct TransportFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var isRetryable: Bool

    public init(_ message: String, retryable: Bool) {
        self.message = message
        isRetryable = retryable
    }

    public var description: String { message }
}
