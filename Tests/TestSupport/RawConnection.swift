import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to 127.0.0.1 that sends exactly the bytes it is given, when it is told
/// to: what a slow or hostile HTTP client looks like from the server's side.
public final class RawConnection {
    public let fd: Int32

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw ServerError("connect: \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// False once the server has closed (or reset) the connection.
    @discardableResult
    public func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// What arrives within 200 ms; nil once the server closed the connection.
    public func read() -> String? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        if n == 0 { return nil }
        if n < 0 { return (errno == EAGAIN || errno == EWOULDBLOCK) ? "" : nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// Calls `trickle` every `interval` seconds until the server closes the connection (returns
    /// the seconds it took, and what it answered) or `limit` seconds pass (returns nil).
    public func secondsUntilClosed(limit: Double, interval: Double = 0.2, trickle: () -> String) -> (seconds: Double, received: String)? {
        let start = Date()
        var received = ""
        while Date().timeIntervalSince(start) < limit {
            guard let text = read() else { return (Date().timeIntervalSince(start), received) }
            received += text
            if !send(trickle()) {
                // The server closed its end: collect what it sent before.
                while let more = read(), !more.isEmpty { received += more }
                return (Date().timeIntervalSince(start), received)
            }
            Thread.sleep(forTimeInterval: interval)
        }
        return nil
    }
}
