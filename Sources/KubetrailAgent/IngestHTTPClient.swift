import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// The agent's HTTP/1.1 client: one kept-alive connection to the aggregator, TLS through
/// OpenSSL, blocking calls with deadlines on the shipper's own thread. It does only what
/// shipping needs, which is why the agent does not link libcurl and its dozen TLS, LDAP, SSH
/// and Kerberos libraries (about 4 MiB of resident memory on every node).
///
/// It never follows a redirect (the bearer token would go along) and never sends
/// `Expect: 100-continue`. A request that fails on a reused connection before any byte of a
/// reply came is sent once more on a new one: the server had closed the idle connection, and
/// ingest is idempotent by batch ID anyway.
public final class IngestHTTPClient: IngestTransport {
    public typealias Options = HTTPClientOptions

    private let options: Options
    private var connection: (channel: ByteChannel, endpoint: HTTPEndpoint)?
    /// The URL last posted to, taken apart: the shipper posts every batch to the same one.
    private var parsed: (url: String, endpoint: HTTPEndpoint)?
    /// Tests give their own channels (bytes in memory) in place of sockets.
    private let open: (HTTPEndpoint, Options, Double) throws(TransportFailure) -> ByteChannel

    public init(options: Options = .init()) {
        self.options = options
        open = Self.connect
        // OpenSSL writes with write(2), which raises SIGPIPE when the peer has gone.
        signal(SIGPIPE, SIG_IGN)
    }

    init(options: Options, open: @escaping (HTTPEndpoint, Options, Double) throws(TransportFailure) -> ByteChannel) {
        self.options = options
        self.open = open
    }

    /// POSTs `body` and returns the status and reply; throws `TransportFailure` only when no
    /// complete HTTP answer came.
    public func post(_ url: String, body: [UInt8], headers: [(String, String)]) throws -> HTTPReply {
        let endpoint: HTTPEndpoint
        if let parsed, parsed.url == url {
            endpoint = parsed.endpoint
        } else {
            do { endpoint = try HTTPEndpoint(url) } catch { throw TransportFailure("\(error)", retryable: false) }
            parsed = (url, endpoint)
        }
        let head = try Self.requestHead(endpoint, bodyBytes: body.count, headers: headers)
        let deadline = monotonicSeconds() + options.timeout
        var reused = false
        if let kept = connection, kept.endpoint == endpoint, !kept.channel.isStale {
            reused = true
        } else {
            connection = nil
        }
        while true {
            let channel: ByteChannel
            if reused, let kept = connection {
                channel = kept.channel
            } else {
                channel = try open(endpoint, options, min(deadline, monotonicSeconds() + options.connectTimeout))
                connection = (channel, endpoint)
            }
            var reader = HTTPResponseReader(channel: channel, deadline: deadline, bodyLimit: options.maxResponseBytes)
            let reply: HTTPResponseReader.Reply
            do throws(TransportFailure) {
                var sentAll = try channel.write(head, deadline: deadline)
                if sentAll { sentAll = try channel.write(body, deadline: deadline) }
                reply = try reader.read()
                if !sentAll { connection = nil }
            } catch {
                connection = nil
                if reused && !reader.receivedAny && error.isRetryable {
                    reused = false
                    continue
                }
                throw error  // it names the peer
            }
            if !reply.reusable { connection = nil }
            if (300..<400).contains(reply.status) {
                let location = reply.headers["location"].map { "to \($0)" } ?? "without a Location"
                throw TransportFailure(
                    "\(url) answered \(reply.status), a redirect \(location); kubetrail does not follow redirects "
                        + "(the token would go along): give the final URL", retryable: false)
            }
            return HTTPReply(
                status: reply.status, body: reply.body, retryAfter: reply.headers["retry-after"].flatMap { Double($0) },
                newConnection: !reused, headers: reply.headers)
        }
    }

    /// The request line and headers. A header that would break the request (a line break in a
    /// token file, say) is refused rather than sent.
    static func requestHead(_ endpoint: HTTPEndpoint, bodyBytes: Int, headers: [(String, String)]) throws(TransportFailure) -> [UInt8] {
        var text = "POST \(endpoint.target) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\nContent-Length: \(bodyBytes)\r\n"
        for (name, value) in headers {
            let bad = { (c: Unicode.Scalar) in c.value < 0x20 && c != "\t" || c.value == 0x7F }
            guard !name.isEmpty, !name.unicodeScalars.contains(where: { bad($0) || $0 == ":" || $0 == " " }), !value.unicodeScalars.contains(where: bad)
            else {
                throw TransportFailure("the \(name.unicodeScalars.contains(where: bad) ? "" : name + " ")header holds a control character", retryable: false)
            }
            text += "\(name): \(value)\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
    }

    private static func connect(_ endpoint: HTTPEndpoint, _ options: Options, _ deadline: Double) throws(TransportFailure) -> ByteChannel {
        let socket = try SocketChannel.connect(host: endpoint.host, port: endpoint.port, deadline: deadline)
        return endpoint.usesTLS ? try TLSChannel(over: socket, endpoint: endpoint, caFile: options.caFile, deadline: deadline) : socket
    }
}
