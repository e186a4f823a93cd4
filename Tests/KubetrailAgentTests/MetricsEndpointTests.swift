import Foundation
import Testing
import TestSupport

/// Anyone who reaches the metrics port can open connections; none of them may hold up a scrape.
@Suite(.serialized) struct MetricsEndpointTests {
    @Test func peersThatTrickleOrSendNothingDoNotBlockScrapesAndAreCutOff() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.reservePort()
        let agent = try node.startAgent()
        let trickler = try Trickler(port: agent.metricsPort, connections: 3)
        defer { trickler.stop() }
        let idle = try (0..<3).map { _ in try RawConnection(port: agent.metricsPort) }
        defer { idle.forEach { $0.close() } }
        #expect(trickler.waitUntilSent(bytes: 2))
        let health = try Curl.request("http://127.0.0.1:\(agent.metricsPort)/healthz", method: "GET", extra: ["--max-time", "20"])
        #expect(health.status == 200)
        let metrics = try Curl.request("http://127.0.0.1:\(agent.metricsPort)/metrics", method: "GET", extra: ["--max-time", "20"])
        #expect(metrics.status == 200 && metrics.body.contains("kubetrail_agent_open_files"))
        // However long they keep at it, the slow peers are disconnected in the end.
        #expect(idle.allSatisfy { $0.waitForClose(seconds: 60) })
        #expect(trickler.waitUntilAllClosed(seconds: 60))
    }
}

/// A TCP connection to 127.0.0.1 made with plain sockets.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw ServerError("connect: \(String(cString: strerror(errno)))") }
    }

    /// One byte; false once the peer has gone.
    func send(byte: UInt8) -> Bool {
        var b = byte
        return Glibc.send(fd, &b, 1, Int32(MSG_NOSIGNAL)) == 1
    }

    /// True when the server closes the connection (EOF or reset) within `seconds`.
    func waitForClose(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 512)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 200) > 0 else { continue }
            if recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) <= 0 { return true }
        }
        return false
    }

    func close() { Glibc.close(fd) }
}

/// Connections that send a request line one byte at a time, never finishing the headers.
final class Trickler: @unchecked Sendable {
    private let connections: [RawConnection]
    private let lock = NSLock()
    private var running = true
    private var sent = 0
    private var closed = Set<Int>()
    private let finished = DispatchSemaphore(value: 0)

    init(port: Int, connections count: Int) throws {
        connections = try (0..<count).map { _ in try RawConnection(port: port) }
        let request = Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 4000)
        Thread { [self] in
            var i = 0
            while lock.withLock({ running }) {
                for (n, c) in connections.enumerated() where !lock.withLock({ closed.contains(n) }) {
                    if !c.send(byte: request[i % request.count]) { lock.withLock { _ = closed.insert(n) } }
                }
                i += 1
                lock.withLock { sent = i }
                Thread.sleep(forTimeInterval: 0.25)
            }
            finished.signal()
        }.start()
    }

    func waitUntilSent(bytes: Int) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && lock.withLock({ sent }) < bytes { Thread.sleep(forTimeInterval: 0.05) }
        return lock.withLock { sent } >= bytes
    }

    /// True once the server has cut off every connection (a send failed, or it closed).
    func waitUntilAllClosed(seconds: Double) -> Bool {
        connections.indices.allSatisfy { n in
            lock.withLock { closed.contains(n) } || connections[n].waitForClose(seconds: seconds)
        }
    }

    func stop() {
        lock.withLock { running = false }
        finished.wait()
        connections.forEach { $0.close() }
    }
}
