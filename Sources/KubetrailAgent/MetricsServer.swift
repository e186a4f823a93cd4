#if canImport(Glibc)
import Glibc
#endif

/// The agent's small HTTP listener: `GET /healthz` and `GET /metrics`, one request per
/// connection, on plain sockets (the agent links no SwiftNIO).
///
/// Anyone who can reach the port can open connections, so no client may hold up another: each
/// connection is served on a thread of its own, has `requestDeadline` seconds in all to send its
/// request and take the answer (a peer trickling a byte at a time is cut off too), and at most
/// `maxConnections` are served at once — beyond that a connection gets `503` at once.
final class MetricsServer: @unchecked Sendable {
    static let maxConnections = 16
    static let requestDeadline = 5.0

    let metrics: AgentMetrics
    private let listener: Int32
    let port: Int
    private let state = Monitor()
    private var stopped = false
    private var active = 0

    init(listen: String, metrics: AgentMetrics) throws {
        self.metrics = metrics
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
            throw AgentConfigurationError("--metrics-listen must be HOST:PORT, not \(listen)")
        }
        var host = String(listen[..<colon])
        if host.isEmpty || host == "*" { host = "0.0.0.0" }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentIOError(operation: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(fd)
            throw AgentConfigurationError("--metrics-listen host must be an IPv4 address, not \(host)")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let e = errno
            close(fd)
            throw AgentIOError(operation: "listen", path: listen, errno: e)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
    }

    deinit { close(listener) }

    func start() {
        _ = AgentThread.spawn { [self] in serve() }
    }

    func stop() { state.locked { stopped = true } }

    private func serve() {
        while !state.locked({ stopped }) {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 200) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            let admitted: Bool = state.locked {
                guard active < Self.maxConnections else { return false }
                active += 1
                return true
            }
            guard admitted else {
                metrics.add(.metricsConnectionsRefused)
                let busy = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n".utf8)
                _ = busy.withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                close(client)
                continue
            }
            let thread = AgentThread.spawn { [self] in
                handle(client, deadline: monotonicSeconds() + Self.requestDeadline)
                close(client)
                state.locked { active -= 1 }
            }
            // Nobody joins these threads: detached, their stacks go back when they end.
            pthread_detach(thread)
        }
    }

    private func handle(_ client: Int32, deadline: Double) {
        guard let request = Self.readRequest(client, deadline: deadline) else { return }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let status: String
        let body: String
        var type = "text/plain; charset=utf-8"
        if parts.count < 2 {
            status = "400 Bad Request"; body = "bad request\n"
        } else if parts[0] != "GET" {
            status = "405 Method Not Allowed"; body = "only GET\n"
        } else {
            switch parts[1].split(separator: "?").first.map(String.init) ?? "" {
            case "/healthz":
                let stale = metrics.secondsSinceHeartbeat
                if stale < 30 {
                    status = "200 OK"; body = "ok\n"
                } else {
                    status = "503 Service Unavailable"; body = "tailer loop stalled for \(Int(stale)) s\n"
                }
            case "/metrics":
                status = "200 OK"; body = metrics.render(); type = "text/plain; version=0.0.4"
            default:
                status = "404 Not Found"; body = "not found\n"
            }
        }
        let reply = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        Self.send(Array(reply.utf8), to: client, deadline: deadline)
    }
}

extension MetricsServer {
    /// The request head, or nil when the peer closed, failed or ran out of time before sending it.
    static func readRequest(_ client: Int32, deadline: Double) -> [UInt8]? {
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 {
            guard wait(client, for: Int16(POLLIN), until: deadline) else { return nil }
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { break }
            request += chunk[0..<n]
            if headersComplete(request) { break }
        }
        return request
    }

    /// Sends what it can before the deadline; a peer that does not read is left behind.
    static func send(_ bytes: [UInt8], to client: Int32, deadline: Double) {
        var sent = 0
        while sent < bytes.count {
            guard wait(client, for: Int16(POLLOUT), until: deadline) else { return }
            let n = bytes.withUnsafeBytes { Glibc.send(client, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return }
            sent += n
        }
    }

    /// True once `fd` is ready for `events` (or has an error to report), false at the deadline.
    private static func wait(_ fd: Int32, for events: Int16, until deadline: Double) -> Bool {
        while true {
            let left = deadline - monotonicSeconds()
            if left <= 0 { return false }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&p, 1, Int32(min(left, 1) * 1000) + 1)
            if r > 0 { return true }
            if r < 0 && errno != EINTR { return false }
        }
    }

    /// A blank line ends the head; a body may already have come along with it in the same read.
    static func headersComplete(_ bytes: [UInt8]) -> Bool {
        bytes.firstRange(of: [13, 10, 13, 10]) != nil || bytes.firstRange(of: [10, 10]) != nil
    }
}

public struct AgentConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
