import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 for one HTTP exchange that never delivers the final reply: when the
/// server's final status line arrives (the server has done its work, the commit included), it
/// calls `onReply` (a test kills the server there) and closes the client's connection. The
/// client sees a crash between commit and reply; the server carries no hook for it.
public final class ReplyWithholdingProxy: @unchecked Sendable {
    public let port: Int
    private let listener: Int32

    public init(upstreamPort: Int, onReply: @escaping @Sendable () -> Void) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        guard listener >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw ServerError("proxy listen: \(String(cString: strerror(errno)))")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread {
            let client = accept(listener, nil, nil)
            guard client >= 0, let upstream = try? RawConnection(port: upstreamPort) else { return }
            let upstreamFD = upstream.fd
            // The request, as it comes, in the background.
            Thread.detachNewThread {
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = recv(client, &buffer, buffer.count, 0)
                    if n <= 0 { return }
                    if Glibc.send(upstreamFD, buffer, n, Int32(MSG_NOSIGNAL)) != n { return }
                }
            }
            // The replies: interim ones (100 Continue) pass; the final one is withheld.
            var reply: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(upstreamFD, &buffer, buffer.count, 0)
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { continue }
                if n <= 0 { break }
                reply += buffer[0..<n]
                while let head = Self.headEnd(reply), Self.isInterim(reply) {
                    _ = Glibc.send(client, reply, head, Int32(MSG_NOSIGNAL))
                    reply.removeFirst(head)
                }
                if reply.count >= 12 && !Self.isInterim(reply) { break }
            }
            onReply()
            shutdown(client, Int32(SHUT_RDWR))
            close(client)
            withExtendedLifetime(upstream) {}
        }
    }

    deinit { close(listener) }

    /// `HTTP/1.1 1xx`: a reply before the final one.
    private static func isInterim(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 10 && bytes[9] == UInt8(ascii: "1")
    }

    /// Where the head ends (after its blank line), if it has.
    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i + 4 }
        return nil
    }
}
