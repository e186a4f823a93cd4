import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailCurl
import KubetrailStore

/// `kubetrail-bench alerts`: continuous detection's latency, from an audit batch sent to a real
/// aggregator to each of its findings arriving at a webhook on 127.0.0.1, while audit rows are
/// ingested at a steady rate; and whether every finding arrived once.
struct AlertLatencyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "Audit row sent → alert received, p50/p99 at a steady ingest rate (goal: p99 ≤ 5 s at 10,000 rows/s).")

    @Option(help: "Audit rows per second sent.") var rate = 10_000
    @Option(help: "Seconds of sending.") var seconds = 30
    @Option(help: "Rows per batch.") var batch = 1_000
    @Option(help: "Detection interval of the aggregator, in seconds (its default is 1).") var interval = 1.0
    @Option(help: "The webhook's min_severity.") var minSeverity = "low"
    @Option(
        help:
            "The webhook's max_per_minute: high by default, so the figure is the pipeline's and not the rate limit's (the default of 600 a minute holds back the generated log's ~550 findings a second)."
    )
    var maxPerMinute = 1_000_000
    @Option(help: "The kubetrail binary (default: next to this one).") var kubetrail: String?

    func run() throws {
        let work = NSTemporaryDirectory() + "kubetrail-alerts-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let token = UUID().uuidString
        try (token + "\n").write(toFile: work + "/tokens", atomically: true, encoding: .utf8)
        let receiver = try WebhookReceiver()
        try """
        aggregator {
          detection {
            interval = \(interval)
          }
          alert "webhook" "bench" {
            url          = "http://127.0.0.1:\(receiver.port)/hook"
            min_severity   = "\(minSeverity)"
            max_per_minute = \(maxPerMinute)
          }
        }
        """.write(toFile: work + "/aggregator.tpc", atomically: true, encoding: .utf8)

        // Batches, and each row's audit id by batch.
        let count = rate * seconds / batch
        var generator = AuditEventGenerator(seed: 11, start: Timestamp.now.adding(microseconds: -600_000_000), end: .now)
        var bodies: [[UInt8]] = []
        var batchOf: [String: Int] = [:]
        for b in 0..<count {
            var encoder = WireBatchEncoder(node: "node-\(b % 2)", cluster: "bench")
            let source = WireFormat.Source(kind: .auditLine, path: "/var/log/kube-audit/audit.log", identity: "dev:ino:\(b % 2)")
            var offset: UInt64 = 0
            for i in 0..<batch {
                var line = Array(generator.next(index: b * batch + i, total: count * batch).utf8)
                line.removeLast()
                let id = String(decoding: line[line.firstRange(of: Array("\"auditID\":\"".utf8))!.upperBound...].prefix(36), as: UTF8.self)
                batchOf[id] = b
                encoder.append(source, offset: offset, bytes: line)
                offset += UInt64(line.count + 1)
            }
            bodies.append(try encoder.deflated())
        }

        let binary = kubetrail ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kubetrail").path
        let server = Process()
        server.executableURL = URL(fileURLWithPath: binary)
        server.arguments = [
            "aggregator", "--listen", "127.0.0.1:0", "--db", work + "/agg.db", "--ingest-token-file", work + "/tokens",
            "--config", work + "/aggregator.tpc"
        ]
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        var port = 0, seen = ""
        while port == 0 {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { throw ValidationError("aggregator exited") }
            seen += String(decoding: data, as: UTF8.self)
            if let r = seen.range(of: "listening on http://127.0.0.1:") { port = Int(seen[r.upperBound...].prefix(while: \.isNumber)) ?? 0 }
        }

        // Batches sent on a steady clock: batch b leaves at b × batch / rate seconds (at once when behind).
        let http = try CurlHTTPClient()
        let headers = [("Authorization", "Bearer \(token)"), ("Content-Encoding", "deflate"), ("Content-Type", "application/octet-stream")]
        var sentAt = [Double](repeating: 0, count: count)
        let start = Date()
        for b in 0..<count {
            let due = Double(b * batch) / Double(rate)
            let now = Date().timeIntervalSince(start)
            if due > now { Thread.sleep(forTimeInterval: due - now) }
            sentAt[b] = Date().timeIntervalSince(start)
            let reply = try http.post("http://127.0.0.1:\(port)/v1/ingest", body: bodies[b], headers: headers)
            guard reply.status == 200 else { throw ValidationError("batch \(b) got \(reply.status): \(reply.text)") }
        }
        let sending = Date().timeIntervalSince(start)
        say(
            String(
                format: "ingest    %d audit rows in %.1f s: %.0f rows/s (asked %d), batches of %d, detection interval %.1f s",
                count * batch, sending, Double(count * batch) / sending, rate, batch, interval))

        // Every finding stored at the sink's severity or above must arrive: wait until the count stops growing and matches.
        let db = work + "/agg.db"
        let levels = ["informational", "low", "medium", "high", "critical"]
        let sent = levels.drop { $0 != minSeverity }.map { "'\($0)'" }.joined(separator: ", ")
        func stored() -> Int {
            final class One: QuerySink {
                var n = 0
                func begin(columns: [QueryColumn]) {}
                func row(_ values: [QueryValue]) { if case .int(let v) = values.first { n = Int(v) } }
                func end() {}
            }
            let one = One()
            try? StoreLocation.sqlite(path: db).open(.readOnly).query("SELECT count(*) FROM kubernetes_detections WHERE severity IN (\(sent))", into: one)
            return one.n
        }
        var last = -1, stable = 0
        let deadline = Date().addingTimeInterval(120)
        while stable < 3 && Date() < deadline {
            Thread.sleep(forTimeInterval: 1)
            let now = receiver.findings.count
            if now == last && now >= stored() { stable += 1 } else { stable = 0 }
            last = now
        }
        let arrivals = receiver.findings
        var latencies: [Double] = [], ids = Set<String>(), repeats = 0
        for (findingID, auditID, at) in arrivals {
            if !ids.insert(findingID).inserted { repeats += 1; continue }
            guard let b = batchOf[auditID] else { continue }
            latencies.append(at.timeIntervalSince(start) - sentAt[b])
        }
        latencies.sort()
        func p(_ q: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))] }
        say("findings  \(stored()) stored at \(minSeverity) or above, \(ids.count) received (\(repeats) repeated) in \(receiver.posts) webhook posts")
        say(
            String(
                format: "latency   batch sent → its finding received: p50 %.2f s, p99 %.2f s, max %.2f s (goal p99 ≤ 5 s)", p(0.5), p(0.99), latencies.last ?? 0
            ))
    }
}

/// A webhook on 127.0.0.1 that answers 200 to every POST and keeps each finding's id, audit id
/// and arrival time. HTTP/1.1 with keep-alive, one thread per connection.
final class WebhookReceiver: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var received: [(String, String, Date)] = []
    private var postCount = 0

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw ValidationError("the webhook receiver cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        Thread { [self] in
            while true {
                let c = accept(fd, nil, nil)
                guard c >= 0 else { return }
                Thread { self.serve(c) }.start()
            }
        }.start()
    }

    deinit { close(listener) }

    var findings: [(String, String, Date)] { lock.lock(); defer { lock.unlock() }; return received }
    var posts: Int { lock.lock(); defer { lock.unlock() }; return postCount }

    private func serve(_ c: Int32) {
        defer { close(c) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            // Headers, then Content-Length bytes of body.
            var headerEnd: Int?
            while headerEnd == nil {
                headerEnd = buffer.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound
                if headerEnd == nil {
                    let n = read(c, &chunk, chunk.count)
                    guard n > 0 else { return }
                    buffer += chunk[0..<n]
                }
            }
            let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self).lowercased()
            let length =
                head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }.flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) }
                ?? 0
            while buffer.count < headerEnd! + length {
                let n = read(c, &chunk, chunk.count)
                guard n > 0 else { return }
                buffer += chunk[0..<n]
            }
            let body = Data(buffer[headerEnd!..<(headerEnd! + length)])
            buffer.removeFirst(headerEnd! + length)
            let now = Date()
            var got: [(String, String, Date)] = []
            if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let findings = object["findings"] as? [[String: Any]] {
                for f in findings { got.append((f["finding_id"] as? String ?? "", f["audit_id"] as? String ?? "", now)) }
            }
            lock.lock(); received += got; postCount += 1; lock.unlock()
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
            guard write(c, reply, reply.count) == reply.count else { return }
        }
    }
}
