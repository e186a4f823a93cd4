/// What kubetrail's HTTP clients (the agent's own, libcurl's for the CLI) are told: the CA
/// bundle to verify the server with and how long to wait.
public struct HTTPClientOptions: Sendable {
    /// CA bundle (PEM) to verify the server with; nil uses the system's.
    public var caFile: String?
    /// The whole request: connect, send, and the reply (for a stream: the most time without a byte).
    public var timeout: Double = 30
    public var connectTimeout: Double = 5
    /// The most reply body kept: replies are small JSON, a larger one is cut.
    public var maxResponseBytes = 1 << 20
    /// Encodings to ask for and decode (libcurl's `CURLOPT_ACCEPT_ENCODING`): "" asks for every
    /// one the library was built with; nil asks for none.
    public var acceptEncoding: String?

    public init(caFile: String? = nil) { self.caFile = caFile }
}

/// An HTTP answer, whatever its status.
public struct HTTPReply: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Seconds from a `Retry-After` header, when the server sent one.
    public var retryAfter: Double?
    /// True when this request opened a new connection (false: kept alive).
    public var newConnection: Bool
    /// Header names lower-cased.
    public var headers: [String: String]

    public init(status: Int, body: [UInt8], retryAfter: Double? = nil, newConnection: Bool = false, headers: [String: String] = [:]) {
        self.status = status
        self.body = body
        self.retryAfter = retryAfter
        self.newConnection = newConnection
        self.headers = headers
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}
