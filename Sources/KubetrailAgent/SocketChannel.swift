#if canImport(Glibc)
import Glibc
#endif

/// A byte stream with deadlines: what the HTTP client reads replies from and writes requests
/// to, over TCP or TLS, and what its tests replace with bytes in memory.
protocol ByteChannel: AnyObject {
    /// Bytes read into `buffer`; 0 once the peer has closed. Throws at `deadline` (monotonic).
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Double) throws(TransportFailure) -> Int
    /// False when the peer began to answer before it took all the bytes (a 413 sent as soon
    /// as the headers came, say): the caller stops sending and reads that answer.
    func write(_ bytes: UnsafeRawBufferPointer, deadline: Double) throws(TransportFailure) -> Bool
    /// True when an idle kept-alive connection can no longer carry a request: the peer closed
    /// it or sent something unasked.
    var isStale: Bool { get }
}

extension ByteChannel {
    /// `bytes` as `write(_:deadline:)` sends them (the closure of `withUnsafeBytes` cannot pass
    /// a typed error through).
    func write(_ bytes: [UInt8], deadline: Double) throws(TransportFailure) -> Bool {
        var result: Result<Bool, TransportFailure> = .success(true)
        bytes.withUnsafeBytes { raw in
            do throws(TransportFailure) { result = .success(try write(raw, deadline: deadline)) } catch { result = .failure(error) }
        }
        return try result.get()
    }
}

/// A non-blocking TCP socket, connected to the first of the host's addresses that answers.
final class SocketChannel: ByteChannel {
    let fd: Int32
    let peer: String

    private init(fd: Int32, peer: String) {
        self.fd = fd
        self.peer = peer
    }

    deinit { close(fd) }

    static func connect(host: String, port: UInt16, deadline: Double) throws(TransportFailure) -> SocketChannel {
        let peer = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw TransportFailure("\(peer): cannot resolve \(host): \(String(cString: gai_strerror(rc)))", retryable: true)
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
                lastError = String(cString: strerror(errno))
                close(fd)
                continue
            }
            do throws(TransportFailure) {
                try wait(fd, for: Int16(POLLOUT), until: deadline, peer: peer, doing: "connect")
            } catch {
                close(fd)
                throw error
            }
            var problem: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &problem, &length)
            if problem != 0 {
                lastError = String(cString: strerror(problem))
                close(fd)
                continue
            }
            // Requests are written whole and then answered: no point in Nagle's delay.
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return SocketChannel(fd: fd, peer: peer)
        }
        throw TransportFailure("\(peer): cannot connect: \(lastError)", retryable: true)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Double) throws(TransportFailure) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try Self.wait(fd, for: Int16(POLLIN), until: deadline, peer: peer, doing: "read the reply")
            default: throw TransportFailure("\(peer): read failed: \(String(cString: strerror(errno)))", retryable: true)
            }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, deadline: Double) throws(TransportFailure) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n >= 0 {
                offset += n
                continue
            }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK:
                if try Self.waitToSend(fd, until: deadline, peer: peer) == .answered { return false }
            default:
                // The peer may have answered and closed: its answer is still to be read.
                if isStale { return false }
                throw TransportFailure("\(peer): send failed: \(String(cString: strerror(code)))", retryable: true)
            }
        }
        return true
    }

    var isStale: Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) != 0
    }

    enum SendReadiness { case writable, answered }

    /// Waits until `fd` takes more bytes, or the peer has sent something (its answer, or its
    /// end) before taking them all.
    static func waitToSend(_ fd: Int32, until deadline: Double, peer: String) throws(TransportFailure) -> SendReadiness {
        let ready = try wait(fd, for: Int16(POLLOUT) | Int16(POLLIN), until: deadline, peer: peer, doing: "send the request")
        return ready & Int16(POLLIN) != 0 && ready & Int16(POLLOUT) == 0 ? .answered : .writable
    }

    /// Waits until `fd` is ready for `events` or the deadline passes; returns what is ready.
    @discardableResult
    static func wait(_ fd: Int32, for events: Int16, until deadline: Double, peer: String, doing what: String) throws(TransportFailure) -> Int16 {
        while true {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { throw TransportFailure("\(peer): timed out waiting to \(what)", retryable: true) }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
            if ready > 0 { return entry.revents }
            if ready < 0 && errno != EINTR {
                throw TransportFailure("\(peer): poll failed: \(String(cString: strerror(errno)))", retryable: true)
            }
        }
    }
}
