import Foundation
import KubetrailCore
import Testing
import TestSupport

@testable import KubetrailAgent

/// The agent's own HTTP/1.1 client: replies read from bytes in memory, cut at every place, and
/// real connections to the aggregator, plain and TLS.
@Suite(.serialized) struct IngestHTTPClientTests {
    /// Bytes in memory as a connection: handed out `piece` at a time, then end of stream.
    final class MemoryChannel: ByteChannel {
        let incoming: [UInt8]
        let piece: Int
        var position = 0
        var written: [UInt8] = []
        var stale = false

        init(_ text: String, piece: Int = .max) {
            incoming = Array(text.utf8)
            self.piece = piece
        }

        init(bytes: [UInt8], piece: Int) {
            incoming = bytes
            self.piece = piece
        }

        func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Double) throws(TransportFailure) -> Int {
            let n = min(piece, buffer.count, incoming.count - position)
            incoming.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: n) }
            position += n
            return n
        }

        func write(_ bytes: UnsafeRawBufferPointer, deadline: Double) throws(TransportFailure) -> Bool {
            written.append(contentsOf: bytes)
            return true
        }

        var isStale: Bool { stale }
    }

    func read(_ text: String, piece: Int = .max, limit: Int = 1 << 20) throws(TransportFailure) -> HTTPResponseReader.Reply {
        var reader = HTTPResponseReader(channel: MemoryChannel(text, piece: piece), deadline: .infinity, bodyLimit: limit)
        return try reader.read()
    }

    func failure(_ text: String, limit: Int = 1 << 20) -> TransportFailure? {
        do {
            _ = try read(text, limit: limit)
            return nil
        } catch {
            return error
        }
    }

    @Test func repliesAreReadWhereverTheBytesAreCut() throws {
        let replies: [(String, Int, String, Bool)] = [
            ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"batch\":\"x\"}", 200, "{\"batch\":\"x\"}", true),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n",
                200,
                "Wikipedia in \r\n\r\nchunks.", true
            ),
            ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy", 503, "busy", true),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false),
            ("HTTP/1.0 200 OK\r\n\r\nuntil the end", 200, "until the end", false),
            ("HTTP/1.1 204 No Content\r\n\r\n", 204, "", true),
            ("HTTP/1.1 401 Unauthorized\nContent-Length: 6\n\ndenied", 401, "denied", true)  // bare LFs
        ]
        for (text, status, body, reusable) in replies {
            for piece in [1, 2, 3, 7, 64, .max] {
                let reply = try read(text, piece: piece)
                #expect(reply.status == status && String(decoding: reply.body, as: UTF8.self) == body && reply.reusable == reusable, "\(piece): \(text)")
            }
        }
        #expect(try read(replies[2].0).headers["retry-after"] == "7")
        // A byte after the reply that nobody asked for: the connection is not used again.
        #expect(try !read("HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\ndenied").reusable)
        let repeated = try read("HTTP/1.1 200 OK\r\nVary: a\r\nVARY:  b \r\nContent-Length: 0\r\n\r\n")
        #expect(repeated.headers["vary"] == "a, b")
    }

    @Test func badRepliesAreClearErrors() throws {
        let cases: [(String, String, Bool)] = [
            ("SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP reply: SSH-2.0-OpenSSH_9.2", false),
            ("HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP reply", false),
            ("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line without a name", false),
            ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "connection closed with 5 of 10 reply bytes unread", true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd", "bad Content-Length", false),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length", false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size zz", false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", "chunk not followed by a line break", false),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "connection closed with 3 of 5 reply bytes unread", true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "transfer coding gzip is not chunked", false),
            ("HTTP/1.1 200 OK\r\nContent-", "connection closed in the middle of the reply's headers", true),
            ("", "connection closed before a reply", true),
            ("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 70_000) + "\r\n\r\n", "reply headers are longer than 64 KiB", false)
        ]
        for (text, message, retryable) in cases {
            let error = failure(text)
            #expect(error?.message.contains(message) == true && error?.isRetryable == retryable, "\(text.prefix(60)): \(String(describing: error))")
        }
        // A reply body past the limit is cut there, and the connection is not used again.
        let big = try read("HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 100_000), limit: 10)
        #expect(big.body.count == 10 && !big.reusable)
    }

    @Test func randomBytesNeverCrashTheReader() {
        var random = SplitMix64(seed: 18)
        let seeds = ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"]
        for round in 0..<3000 {
            var bytes = Array(seeds[round % 2].utf8)
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let at = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: at)
                default: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: at)
                }
            }
            var reader = HTTPResponseReader(channel: MemoryChannel(bytes: bytes, piece: 1 + Int(random.next() % 9)), deadline: .infinity, bodyLimit: 64)
            if let reply = try? reader.read() { #expect((100...599).contains(reply.status) && reply.body.count <= 64) }
        }
    }

    @Test func theRequestIsWhatTheServerExpects() throws {
        let endpoint = try HTTPEndpoint("https://[::1]:8443/base/v1/ingest?x=1#frag")
        #expect(endpoint.host == "::1" && endpoint.port == 8443 && endpoint.target == "/base/v1/ingest?x=1" && endpoint.hostIsAddress)
        let head = String(decoding: try IngestHTTPClient.requestHead(endpoint, bodyBytes: 12, headers: [("Authorization", "Bearer t")]), as: UTF8.self)
        #expect(head == "POST /base/v1/ingest?x=1 HTTP/1.1\r\nHost: [::1]:8443\r\nContent-Length: 12\r\nAuthorization: Bearer t\r\n\r\n")
        #expect(try HTTPEndpoint("http://aggregator").hostHeader == "aggregator" && HTTPEndpoint("http://aggregator").port == 80)
        #expect(try HTTPEndpoint("HTTPS://Agg.example:443").hostHeader == "Agg.example" && !HTTPEndpoint("https://agg.example").hostIsAddress)
        for bad in ["ftp://x", "http://", "http://user:pw@host/", "http://host:0", "http://host:99999", "http://[::1/", "http://host/a b"] {
            #expect(throws: AgentConfigurationError.self, "\(bad)") { try HTTPEndpoint(bad) }
        }
        // A token file with a line break in it must not smuggle a header into the request.
        #expect(throws: TransportFailure.self) {
            try IngestHTTPClient.requestHead(endpoint, bodyBytes: 0, headers: [("Authorization", "Bearer a\r\nX-Evil: 1")])
        }
    }

    /// The server closed the kept-alive connection before answering: the request goes again on a
    /// new one, once, and the caller never sees it. A redirect is not followed.
    @Test func aClosedKeptAliveConnectionIsReplacedAndRedirectsAreNotFollowed() throws {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        var channels = [
            MemoryChannel(ok), MemoryChannel(ok), MemoryChannel("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n")
        ]
        var opened = 0
        let client = IngestHTTPClient(options: .init()) { (_, _, _) throws(TransportFailure) -> ByteChannel in
            opened += 1
            return channels.removeFirst()
        }
        let first = try client.post("http://agg/v1/ingest", body: Array("abc".utf8), headers: [])
        #expect(first.status == 200 && first.newConnection && opened == 1)
        // The first channel has no more bytes: the server closed it after its reply.
        let second = try client.post("http://agg/v1/ingest", body: Array("def".utf8), headers: [])
        #expect(second.status == 200 && second.newConnection && opened == 2)
        do {
            _ = try client.post("http://agg/v1/ingest", body: [], headers: [])
            Issue.record("a redirect was followed or accepted")
        } catch let error as TransportFailure {
            #expect(!error.isRetryable && error.message.contains("307, a redirect to http://elsewhere/"))
        }
    }

    @Test func keepsOneConnectionToARealAggregatorAndTimesOutOnASilentOne() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let client = IngestHTTPClient()
        let url = "http://127.0.0.1:\(node.port)/v1/ingest"
        let good = [("Authorization", "Bearer \(node.token)"), ("Content-Encoding", "deflate")]
        let refused = try client.post(url, body: [1, 2, 3], headers: good)
        #expect(refused.status == 400 && refused.newConnection && refused.text.contains("not zlib data"), "\(refused.status) \(refused.text)")
        #expect(try client.post(url, body: [1, 2, 3], headers: good).newConnection == false)
        // The aggregator closes the connection after a 401 (it did not read the body): a new one follows.
        let denied = try client.post(url, body: [1, 2, 3], headers: [("Authorization", "Bearer wrong")])
        #expect(denied.status == 401 && !denied.newConnection && denied.text.contains("invalid bearer token"))
        #expect(try client.post(url, body: [1, 2, 3], headers: good).newConnection)
        // Nothing listens: worth retrying.
        node.aggregator?.stop()
        do {
            _ = try client.post(url, body: [], headers: [])
            Issue.record("a refused connection did not fail")
        } catch let error as TransportFailure {
            #expect(error.isRetryable && error.message.contains("cannot connect"), "\(error)")
        }
        // A peer that takes the connection and never answers: the request's time runs out.
        let silent = try SilentListener()
        var options = IngestHTTPClient.Options()
        options.timeout = 0.5
        let started = Date()
        do {
            _ = try IngestHTTPClient(options: options).post("http://127.0.0.1:\(silent.port)/v1/ingest", body: [1], headers: [])
            Issue.record("a silent peer answered")
        } catch let error as TransportFailure {
            #expect(error.isRetryable && error.message.contains("timed out waiting to read the reply"), "\(error)")
        }
        #expect(Date().timeIntervalSince(started) < 10)
    }

    /// A server that refuses a request before taking its body: its answer is read, not lost to
    /// the send that can no longer finish (else a batch too large would never be split).
    @Test func anAnswerBeforeTheBodyIsTakenIsRead() throws {
        let server = try EarlyAnsweringServer()
        let big = [UInt8](repeating: 7, count: 32 << 20)
        let reply = try IngestHTTPClient().post("http://127.0.0.1:\(server.port)/v1/ingest", body: big, headers: [])
        #expect(reply.status == 413 && reply.text == "{\"error\":\"big\"}")
        // The aggregator's own limit, on a body far over it.
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator(["--max-body-bytes", "40000"])
        let client = IngestHTTPClient()
        let tooBig = try client.post(
            "http://127.0.0.1:\(node.port)/v1/ingest", body: big, headers: [("Authorization", "Bearer \(node.token)"), ("Content-Encoding", "deflate")])
        #expect(tooBig.status == 413, "\(tooBig.status) \(tooBig.text)")
    }

    @Test func verifiesTheAggregatorsCertificateAndName() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try makeCertificates(in: node.dir)
        try node.startAggregator(["--tls-cert", node.dir.path("server.pem"), "--tls-key", node.dir.path("server.key")])
        let url = "https://127.0.0.1:\(node.port)/v1/ingest"
        let trusted = IngestHTTPClient(options: .init(caFile: node.dir.path("ca.pem")))
        let good = [("Authorization", "Bearer \(node.token)"), ("Content-Encoding", "deflate")]
        let refused = try trusted.post(url, body: [1], headers: good)
        #expect(refused.status == 400 && refused.newConnection)
        #expect(try trusted.post(url, body: [1], headers: good).newConnection == false)
        let refusals: [(IngestHTTPClient, String, String)] = [
            (IngestHTTPClient(), url, "TLS certificate not trusted"),  // the system's CAs do not know the test CA
            (IngestHTTPClient(options: .init(caFile: node.dir.path("rogue.pem"))), url, "TLS certificate not trusted"),
            // The certificate names 127.0.0.1, not localhost.
            (IngestHTTPClient(options: .init(caFile: node.dir.path("ca.pem"))), "https://localhost:\(node.port)/v1/ingest", "TLS certificate not trusted"),
            (IngestHTTPClient(options: .init(caFile: node.dir.path("missing.pem"))), url, "cannot load the CA bundle")
        ]
        for (client, target, message) in refusals {
            do {
                _ = try client.post(target, body: [1], headers: [])
                Issue.record("\(target) was accepted")
            } catch let error as TransportFailure {
                #expect(!error.isRetryable && error.message.contains(message), "\(error)")
            }
        }
        // Plain HTTP to the TLS port is no answer at all.
        #expect(throws: TransportFailure.self) { try IngestHTTPClient().post("http://127.0.0.1:\(node.port)/v1/ingest", body: [1], headers: []) }
    }

    /// The whole agent over TLS: every line arrives, once.
    @Test func theAgentShipsOverVerifiedTLS() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try makeCertificates(in: node.dir)
        try node.startAggregator(["--tls-cert", node.dir.path("server.pem"), "--tls-key", node.dir.path("server.key")])
        try node.startAgent(aggregator: "https://127.0.0.1:\(node.port)", ["--ca-file", node.dir.path("ca.pem"), "--no-containers"])
        LineWriter.append(node.auditDir + "/audit.log", (0..<500).map { LineWriter.auditEvent($0) })
        #expect(node.waitUntil(30) { node.number("SELECT count(DISTINCT audit_id) FROM kubernetes_audit_logs") == 500 }, "\(node.agent?.log ?? "")")
        #expect(node.number("SELECT count(*) FROM kubernetes_audit_logs") == 500)
    }
}

/// A socket listening on 127.0.0.1 at a free port.
func listenOnLoopback() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(fd, 4) == 0 else {
        close(fd)
        throw ServerError("cannot listen: \(String(cString: strerror(errno)))")
    }
    var actual = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return (fd, Int(UInt16(bigEndian: actual.sin_port)))
}

/// A listening socket nobody accepts from: connections complete (the kernel's backlog) and
/// are never answered.
final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws { (fd, port) = try listenOnLoopback() }

    deinit { close(fd) }
}

/// Answers 413 as soon as a request's headers are in, reads none of its body, and closes a
/// second later: what a server with a body limit may do.
final class EarlyAnsweringServer: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        (fd, port) = try listenOnLoopback()
        Thread { [self] in
            let connection = accept(fd, nil, nil)
            var head: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1)
            while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)), recv(connection, &buffer, 1, 0) == 1 { head.append(buffer[0]) }
            let reply = Array("HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 15\r\n\r\n{\"error\":\"big\"}".utf8)
            _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            Thread.sleep(forTimeInterval: 1)
            close(connection)
        }.start()
    }

    deinit { close(fd) }
}
