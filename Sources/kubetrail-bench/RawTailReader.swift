import Foundation

/// A follower that only reads: one connection to `/v1/tail`, its bytes counted and dropped.
/// What the aggregator serves to a client on another machine, without that client's decoding
/// and printing on the two cores the aggregator is measured on.
final class RawTailReader: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var received = 0
    private let finished = DispatchSemaphore(value: 0)

    /// `acceptEncoding`: the header a client sends (kubetrail's own asks for zstd), or none.
    init(port: Int, token: String, table: String, condition: String?, acceptEncoding: String?) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw E2EError("a raw follower cannot connect to 127.0.0.1:\(port)")
        }
        var query = "table=\(table)"
        if let condition { query += "&where=" + (condition.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") }
        let encoding = acceptEncoding.map { "Accept-Encoding: \($0)\r\n" } ?? ""
        let request = Array(
            "GET /v1/tail?\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nAccept: application/x-ndjson\r\n\(encoding)\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            close(fd)
            throw E2EError("a raw follower cannot send its request")
        }
        let socket = fd
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = recv(socket, &buffer, buffer.count, 0)
                if n <= 0 { break }
                lock.withLock { received += n }
            }
            finished.signal()
        }.start()
    }

    /// Closes the connection; the bytes it received.
    func stop() -> Int {
        shutdown(fd, Int32(SHUT_RDWR))
        finished.wait()
        close(fd)
        return lock.withLock { received }
    }
}
