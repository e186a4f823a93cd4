#if canImport(Glibc)
import Glibc
#endif

/// The agent's small HTTP listener: `GET /healthz` and `GET /metrics`, one request per
/// connection, on plain sockets (the agent links no SwiftNIO).
final class MetricsServer: @unchecked Sendable {
    let metrics: AgentMetrics
    private let listener: Int32
    let port: Int
    private let stopping = Monitor()
    private var stopped = false

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

    func stop() { stopping.locked { stopped = true } }

    private func serve() {
        while !stopping.locked({ stopped }) {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 200) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 {
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            request += chunk[0..<n]
            if Self.headersComplete(request) { break }
        }
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
                if stale < 30 { status = "200 OK"; body = "ok\n" } else {
                    status = "503 Service Unavailable"; body = "tailer loop stalled for \(Int(stale)) s\n"
                }
            case "/metrics":
                status = "200 OK"; body = metrics.render(); type = "text/plain; version=0.0.4"
            default:
                status = "404 Not Found"; body = "not found\n"
            }
        }
        let reply = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        var bytes = Array(reply.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { send(client, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }
}

extension MetricsServer {
    static func headersComplete(_ bytes: [UInt8]) -> Bool {
        let tail = bytes.suffix(4)
        return tail.elementsEqual([13, 10, 13, 10]) || bytes.suffix(2).elementsEqual([10, 10])
    }
}

public struct AgentConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
