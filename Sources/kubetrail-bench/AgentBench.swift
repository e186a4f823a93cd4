import ArgumentParser
import Foundation
import KubetrailCore

/// `kubetrail-bench agent`: the real `kubetrail-agent` process tails ~1 GB of CRI lines in
/// 100 growing files plus an audit log and ships them to a loopback sink that inflates, decodes
/// and acknowledges every batch. Baseline in the same run: zlib's own single-core speed on the
/// same bytes at the same level.
struct AgentBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "Agent end to end: tail, frame, deflate, ship.")

    @Option(help: "Total bytes to write (container logs get 90%, the audit log 10%).") var bytes = 1 << 30
    @Option(help: "Container log files.") var files = 100
    @Option(help: "zlib level the agent and the baseline use.") var level = 1
    @Option(help: "Idle files for the idle-CPU measurement (0 skips it).") var idleFiles = 500
    @Option(help: "Work directory (default: a new one under /tmp).") var work: String?
    @Option(help: "The kubetrail-agent binary (default: next to this one).") var agent: String?

    func run() throws {
        let dir = work ?? NSTemporaryDirectory() + "kubetrail-agent-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { if work == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let binary = agent ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kubetrail-agent").path

        // The node's files: half written before the agent starts, half while it runs.
        let tree = try NodeTree(root: dir, containers: files)
        var generator = LogGenerator(seed: 7)
        let auditTarget = bytes / 10
        let containerTarget = bytes - auditTarget
        let firstHalf = try tree.write(&generator, containerBytes: containerTarget / 2, auditBytes: auditTarget / 2)

        let sink = try DecodingSink()
        sink.start()
        let started = Date()
        let process = try Self.startAgent(binary, tree: tree, port: sink.port, state: dir + "/state", level: level)
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        let secondHalf = try tree.write(&generator, containerBytes: containerTarget - containerTarget / 2, auditBytes: auditTarget - auditTarget / 2)
        let total = (bytes: firstHalf.bytes + secondHalf.bytes, lines: firstHalf.lines + secondHalf.lines)
        var seen = 0, lastProgress = Date()
        while sink.records < total.lines {
            if !process.isRunning { throw ValidationError("agent exited with \(process.terminationStatus)") }
            // A bench that waits forever measures nothing: an agent that stopped shipping (its
            // batches refused, say) is an error after a minute without a record.
            if sink.records != seen { seen = sink.records; lastProgress = Date() }
            if Date().timeIntervalSince(lastProgress) > 60 {
                throw ValidationError("the agent shipped nothing for 60 s: \(seen) of \(total.lines) records in \(sink.batches) requests")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let elapsed = Date().timeIntervalSince(started)
        let cpu = processCPUSeconds(process.processIdentifier)
        let rss = Double(peakRSSKiB(process.processIdentifier)) / 1024
        process.terminate()
        process.waitUntilExit()
        let mib = Double(total.bytes) / 1048576
        print(
            String(
                format: "AGENT     %.0f MiB in %d lines over %d files: %.1f MiB/s, %.0f lines/s end to end (%.2f s)",
                mib, total.lines, files + 1, mib / elapsed, Double(total.lines) / elapsed, elapsed))
        print(
            String(
                format: "          agent CPU %.1f s = %.1f CPU s per GiB, peak RSS %.1f MiB; %d batches, %.1f MiB on the wire (%.1f×)",
                cpu, cpu / (mib / 1024), rss, sink.batches, Double(sink.compressedBytes) / 1048576,
                Double(sink.recordBytes) / Double(max(1, sink.compressedBytes))))
        guard sink.recordBytes + UInt64(total.lines) == UInt64(total.bytes) else {
            throw ValidationError("sink got \(sink.recordBytes) record bytes + \(total.lines) newlines, files hold \(total.bytes)")
        }

        // Baseline: zlib alone, one core, the same bytes in 1 MiB pieces.
        let deflater = try Deflater(level: Int32(level))
        var zlibIn = 0, zlibOut = 0
        var zlibSeconds = 0.0
        for path in tree.allFiles {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            for start in stride(from: 0, to: data.count, by: 1 << 20) {
                let piece = data[start..<min(data.count, start + (1 << 20))]
                zlibSeconds += try seconds {
                    zlibOut += try piece.withUnsafeBytes { try deflater.compress($0).count }
                }
                zlibIn += piece.count
            }
        }
        let zlibMiBs = Double(zlibIn) / 1048576 / zlibSeconds
        let zlibPerGiB = zlibSeconds / (Double(zlibIn) / 1073741824)
        print(
            String(
                format: "BASELINE  zlib level %d alone, one core, same bytes: %.1f MiB/s (%.1f×); the agent end to end is %.0f%% of it",
                level, zlibMiBs, Double(zlibIn) / Double(max(1, zlibOut)), 100 * (mib / elapsed) / zlibMiBs))
        print(
            String(
                format: "RATIO     agent CPU per GiB %.2f s is %.2f× zlib's %.2f s", cpu / (mib / 1024), (cpu / (mib / 1024)) / zlibPerGiB, zlibPerGiB))
        sink.stop()

        if idleFiles > 0 { try idle(binary: binary, dir: dir + "/idle") }
    }

    /// CPU of an agent watching many files that do not change.
    private func idle(binary: String, dir: String) throws {
        let tree = try NodeTree(root: dir, containers: idleFiles)
        var generator = LogGenerator(seed: 9)
        let written = try tree.write(&generator, containerBytes: idleFiles * 200, auditBytes: 0)
        let sink = try DecodingSink()
        sink.start()
        let process = try Self.startAgent(binary, tree: tree, port: sink.port, state: dir + "/state", level: level)
        defer { process.terminate(); process.waitUntilExit(); sink.stop() }
        while sink.records < written.lines { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 2)
        let before = processCPUSeconds(process.processIdentifier)
        let window = 20.0
        Thread.sleep(forTimeInterval: window)
        let used = processCPUSeconds(process.processIdentifier) - before
        print(
            String(
                format: "IDLE      %d idle files: agent CPU %.2f s in %.0f s (%.2f%% of one core), RSS %.1f MiB",
                idleFiles + 1, used, window, 100 * used / window, Double(peakRSSKiB(process.processIdentifier)) / 1024))
    }

    static func startAgent(_ binary: String, tree: NodeTree, port: Int, state: String, level: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--aggregator", "http://127.0.0.1:\(port)", "--state-dir", state, "--audit-path", tree.auditDir + "/*.log",
            "--containers-dir", tree.containersDir, "--pods-dir", tree.podsDir, "--node-name", "bench-node", "--metrics-listen", "off",
            "--compression-level", String(level)
        ]
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

/// `/var/log/containers` links, `/var/log/pods` files and an audit directory under one root.
struct NodeTree {
    let root: String
    let containers: Int
    var auditDir: String { root + "/audit" }
    var containersDir: String { root + "/containers" }
    var podsDir: String { root + "/pods" }
    var containerFiles: [String]
    var auditFile: String { auditDir + "/audit.log" }
    var allFiles: [String] { containerFiles + (FileManager.default.fileExists(atPath: auditFile) ? [auditFile] : []) }

    init(root: String, containers: Int) throws {
        self.root = root
        self.containers = containers
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/audit", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/containers", withIntermediateDirectories: true)
        containerFiles = []
        for i in 0..<containers {
            let podDir = root + "/pods/ns\(i % 7)_pod-\(i)_uid-\(i)/app"
            try fm.createDirectory(atPath: podDir, withIntermediateDirectories: true)
            _ = fm.createFile(atPath: podDir + "/0.log", contents: nil)
            let id = String(repeating: String(i % 10), count: 64)
            try fm.createSymbolicLink(atPath: root + "/containers/pod-\(i)_ns\(i % 7)_app-\(id).log", withDestinationPath: podDir + "/0.log")
            containerFiles.append(podDir + "/0.log")
        }
    }

    /// Appends about these many bytes of whole lines, round-robin in 1 MiB pieces.
    func write(_ generator: inout LogGenerator, containerBytes: Int, auditBytes: Int) throws -> (bytes: Int, lines: Int) {
        var handles = try containerFiles.map { path -> FileHandle in
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            h.seekToEndOfFile()
            return h
        }
        defer { for h in handles { try? h.close() } }
        var written = 0, lines = 0
        var file = 0
        while written < containerBytes {
            let (piece, n) = generator.criLines(bytes: min(1 << 20, containerBytes - written))
            handles[file % handles.count].write(piece)
            written += piece.count
            lines += n
            file += 1
        }
        handles = []
        var auditWritten = 0
        if auditBytes > 0 {
            if !FileManager.default.fileExists(atPath: auditFile) { _ = FileManager.default.createFile(atPath: auditFile, contents: nil) }
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: auditFile))
            h.seekToEndOfFile()
            while auditWritten < auditBytes {
                let (piece, n) = generator.auditLines(bytes: min(1 << 20, auditBytes - auditWritten))
                h.write(piece)
                auditWritten += piece.count
                lines += n
            }
            try h.close()
        }
        return (written + auditWritten, lines)
    }
}

/// Log lines that compress like real ones: templates, ids, numbers, timestamps.
struct LogGenerator {
    var random: SplitMix64
    var clock: Int64 = 1_795_000_000_000_000
    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }

    mutating func criLines(bytes: Int) -> (Data, Int) {
        var out = Data(capacity: bytes + 512)
        var n = 0
        let paths = ["/api/v1/orders", "/api/v1/cart", "/healthz", "/api/v2/users/me", "/static/app.js", "/api/v1/payments"]
        let levels = ["info", "info", "info", "debug", "warn", "error"]
        while out.count < bytes {
            clock += Int64(below(2000))
            let ts = Timestamp(microseconds: clock).description
            let stream = below(10) == 0 ? "stderr" : "stdout"
            let line =
                "\(ts) \(stream) F {\"level\":\"\(levels[below(levels.count)])\",\"ts\":\"\(ts)\",\"msg\":\"request served\",\"method\":\"\(below(4) == 0 ? "POST" : "GET")\",\"path\":\"\(paths[below(paths.count)])\",\"status\":\(below(20) == 0 ? 500 : 200),\"duration_ms\":\(below(900)),\"trace_id\":\"\(String(random.next(), radix: 16))\(String(random.next(), radix: 16))\",\"bytes\":\(below(100_000))}\n"
            out.append(contentsOf: line.utf8)
            n += 1
        }
        return (out, n)
    }

    mutating func auditLines(bytes: Int) -> (Data, Int) {
        var out = Data(capacity: bytes + 4096)
        var n = 0
        let verbs = ["get", "list", "watch", "update", "patch", "create", "delete"]
        let resources = ["pods", "secrets", "configmaps", "deployments", "leases", "events", "nodes"]
        while out.count < bytes {
            clock += Int64(below(500))
            let ts = Timestamp(microseconds: clock).description
            let id = "\(String(random.next(), radix: 16))-\(String(random.next() & 0xffff, radix: 16))"
            let resource = resources[below(resources.count)]
            let line =
                "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"\(id)\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/namespaces/ns\(below(7))/\(resource)/obj-\(below(5000))\",\"verb\":\"\(verbs[below(verbs.count)])\",\"user\":{\"username\":\"system:serviceaccount:ns\(below(7)):sa-\(below(40))\",\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"]},\"sourceIPs\":[\"10.0.\(below(255)).\(below(255))\"],\"userAgent\":\"kube-controller-manager/v1.32.0 (linux/amd64)\",\"objectRef\":{\"resource\":\"\(resource)\",\"namespace\":\"ns\(below(7))\",\"name\":\"obj-\(below(5000))\",\"apiVersion\":\"v1\"},\"responseStatus\":{\"metadata\":{},\"code\":200},\"requestReceivedTimestamp\":\"\(ts)\",\"stageTimestamp\":\"\(ts)\",\"annotations\":{\"authorization.k8s.io/decision\":\"allow\",\"authorization.k8s.io/reason\":\"RBAC: allowed by ClusterRoleBinding\"}}\n"
            out.append(contentsOf: line.utf8)
            n += 1
        }
        return (out, n)
    }
}

/// An HTTP/1.1 endpoint that inflates and decodes each batch and acknowledges it: the
/// aggregator's network half without its database, so the agent is what is measured.
final class DecodingSink: @unchecked Sendable {
    private let listener: Int32
    let port: Int
    private let lock = NSLock()
    private var _records = 0
    private var _recordBytes: UInt64 = 0
    private var _compressed = 0
    private var _batches = 0
    private var running = true

    var records: Int { lock.withLock { _records } }
    var recordBytes: UInt64 { lock.withLock { _recordBytes } }
    var compressedBytes: Int { lock.withLock { _compressed } }
    var batches: Int { lock.withLock { _batches } }

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(listener, 16)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func start() {
        Thread { [self] in
            while lock.withLock({ running }) {
                let client = accept(listener, nil, nil)
                if client < 0 { continue }
                Thread { [self] in serve(client) }.start()
            }
        }.start()
    }

    func stop() {
        lock.withLock { running = false }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        func fill() -> Bool {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
        while true {
            var headerEnd: Int? = nil
            while headerEnd == nil {
                if let r = buffer.firstRange(of: [13, 10, 13, 10]) { headerEnd = r.upperBound } else if !fill() { return }
            }
            let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self).lowercased()
            let length =
                head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            while buffer.count < headerEnd! + length { if !fill() { return } }
            let body = Array(buffer[headerEnd!..<(headerEnd! + length)])
            buffer.removeFirst(headerEnd! + length)
            var records = 0
            var bytes: UInt64 = 0
            var status = "200 OK"
            var batchID = ""
            do {
                let raw = try Inflater.inflate(body, format: .zlib)
                var decoder = WireBatchDecoder()
                try decoder.feed(raw) { r in
                    records += 1; bytes += UInt64(r.bytes.count)
                }
                try decoder.finish()
                batchID = decoder.batchID ?? ""
            } catch {
                status = "400 Bad Request"
            }
            lock.withLock {
                _records += records
                _recordBytes += bytes
                _compressed += length
                _batches += 1
            }
            // The agent moves its checkpoints only for a reply naming the batch it sent and its
            // record count, as the aggregator's does.
            let reply = IngestReply(batchID: batchID, records: records).encoded()
            let text = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(reply.utf8.count)\r\n\r\n\(reply)"
            _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        }
    }
}
