import ArgumentParser
import Foundation
import KubetrailCore

/// `kubetrail-bench live`: how soon a line written on a node is printed by `kubetrail logs -f
/// --server`, with agents shipping a steady rate and several followers; and the aggregator's
/// ingest rate with many followers attached next to its rate with none, in the same run.
struct LiveBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live",
        abstract: "Line written → printed by `kubetrail logs -f --server` (goal p99 ≤ 2 s), and ingest with followers / without (goal ≥ 0.90).")

    @Option(help: "Container log lines per second, over all agents.") var rate = 5_000
    @Option(help: "Agents, each with a node tree of its own.") var agents = 2
    @Option(help: "Followers printing the lines (`kubetrail logs -f --server`).") var followers = 10
    @Option(help: "Seconds of writing for the latency part.") var seconds = 20
    @Option(help: "Followers attached during the ingest comparison (0: skip it).") var ingestFollowers = 50
    @Option(help: "Pairs of ingest runs, with and without followers.") var pairs = 3
    @Option(help: "The followers' --where during the ingest comparison (empty: every row).") var followerWhere = ""
    @Option(
        help:
            "Nice value of the follower processes during the ingest comparison. Followers are remote clients in a deployment; here they share the aggregator's 2 cores, and at nice 0 fifty of them parsing every row take the CPU the aggregator's ingest is measured on."
    )
    var followerNice = 19
    @Option(
        help:
            "Followers during the ingest comparison: `kubetrail` (`kubetrail tail --server` processes, decoding and printing every row on these 2 cores), `raw` (connections that read and drop the bytes, as clients elsewhere cost the aggregator) or `both`."
    )
    var followerClient: FollowerClient = .both
    @Option(
        help:
            "What the raw followers ask for in Accept-Encoding: `zstd`, as `kubetrail tail` does (each page compressed once for all of them), or `identity` (the plain stream)."
    )
    var followerEncoding: FollowerEncoding = .zstd
    @Option(help: "The kubetrail binary (default: next to this one).") var kubetrail: String?

    enum FollowerClient: String, ExpressibleByArgument, CaseIterable {
        case kubetrail, raw, both
    }

    enum FollowerEncoding: String, ExpressibleByArgument, CaseIterable {
        case zstd, identity
    }

    func run() throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let binary = kubetrail ?? bin.appendingPathComponent("kubetrail").path
        let agentBinary = bin.appendingPathComponent("kubetrail-agent").path
        let work = NSTemporaryDirectory() + "kubetrail-live-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let token = UUID().uuidString, queryToken = UUID().uuidString
        try (token + "\n").write(toFile: work + "/tokens", atomically: true, encoding: .utf8)
        try (queryToken + "\n").write(toFile: work + "/query.tokens", atomically: true, encoding: .utf8)
        try latency(binary: binary, agentBinary: agentBinary, work: work)
        if ingestFollowers > 0 {
            for client in followerClient == .both ? [FollowerClient.kubetrail, .raw] : [followerClient] {
                try ingest(binary: binary, work: work, token: token, queryToken: queryToken, client: client)
            }
        }
    }

    // MARK: Latency

    func latency(binary: String, agentBinary: String, work: String) throws {
        let port = try freeLoopbackPort()
        let server = ManagedProcess(name: "aggregator", executable: binary, logPath: work + "/aggregator.log") {
            [
                "aggregator", "--listen", "127.0.0.1:\(port)", "--db", work + "/live.db", "--ingest-token-file", work + "/tokens",
                "--query-token-file", work + "/query.tokens", "--no-detections"
            ]
        }
        try server.start()
        defer { server.stop() }
        Thread.sleep(forTimeInterval: 1)
        var nodes: [(dir: String, process: ManagedProcess)] = []
        defer { for n in nodes { n.process.stop() } }
        for i in 0..<agents {
            let root = work + "/node-\(i)"
            let podDir = root + "/pods/shop_web-\(i)_uid-\(i)/app"
            for d in [root + "/audit", root + "/containers", root + "/state", podDir] {
                try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            }
            _ = FileManager.default.createFile(atPath: podDir + "/0.log", contents: nil)
            try FileManager.default.createSymbolicLink(
                atPath: root + "/containers/web-\(i)_shop_app-\(String(repeating: String(i % 10), count: 64)).log", withDestinationPath: podDir + "/0.log")
            let agent = ManagedProcess(name: "agent-\(i)", executable: agentBinary, logPath: root + "/agent.log") {
                [
                    "--aggregator", "http://127.0.0.1:\(port)", "--token-file", work + "/tokens", "--state-dir", root + "/state",
                    "--audit-path", root + "/audit/*.log", "--containers-dir", root + "/containers", "--pods-dir", root + "/pods",
                    "--node-name", "node-\(i)", "--cluster-name", "bench", "--metrics-listen", "off"
                ]
            }
            try agent.start()
            nodes.append((podDir, agent))
        }
        // Followers, each read on a thread of its own: the latency of a line is when its text
        // reaches this process minus the write time the line carries.
        let received = Received()
        var followerProcesses: [Process] = []
        defer {
            for p in followerProcesses where p.isRunning {
                p.terminate()
                p.waitUntilExit()
            }
        }
        for _ in 0..<followers {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["logs", "-f", "--since", "1s", "-n", "shop", "--server", "http://127.0.0.1:\(port)", "--token-file", work + "/query.tokens"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            followerProcesses.append(p)
            let handle = out.fileHandleForReading
            Thread {
                var pending = [UInt8]()
                while true {
                    let data = handle.availableData
                    if data.isEmpty { return }
                    let now = Date().timeIntervalSince1970
                    pending += data
                    var start = 0
                    var stamps: [Double] = []
                    while let nl = pending[start...].firstIndex(of: 0x0A) {
                        let line = String(decoding: pending[start..<nl], as: UTF8.self)
                        if let r = line.range(of: " t=") {
                            let digits = line[r.upperBound...].prefix { $0.isNumber }
                            if let micros = Double(digits) { stamps.append(now - micros / 1e6) }
                        }
                        start = nl + 1
                    }
                    pending.removeFirst(start)
                    received.add(stamps)
                }
            }.start()
        }
        Thread.sleep(forTimeInterval: 2)

        // Lines written every 20 ms, each carrying its write time.
        let tick = 0.02
        let perTick = max(1, rate * Int(tick * 1000) / 1000 / agents)
        var written = 0
        let start = Date()
        let warmup = 2.0
        var n = 0
        while Date().timeIntervalSince(start) < Double(seconds) {
            let t0 = Date()
            for (i, node) in nodes.enumerated() {
                var text = ""
                let stamp = Self.criTime()
                for _ in 0..<perTick {
                    n += 1
                    text += "\(stamp) stdout F level=info msg=\"served\" n=\(n) t=\(Int64(Date().timeIntervalSince1970 * 1e6)) node=\(i)\n"
                }
                let h = FileHandle(forWritingAtPath: node.dir + "/0.log")!
                h.seekToEndOfFile()
                h.write(Data(text.utf8))
                try? h.close()
                written += perTick
            }
            if Date().timeIntervalSince(start) < warmup { received.reset(); written = 0 }
            let spent = Date().timeIntervalSince(t0)
            if spent < tick { Thread.sleep(forTimeInterval: tick - spent) }
        }
        let writing = Date().timeIntervalSince(start) - warmup
        // Let the last lines arrive.
        let expected = written * followers
        let deadline = Date().addingTimeInterval(30)
        while received.count < expected && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        let latencies = received.all.sorted()
        func p(_ q: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))] }
        say(
            String(
                format: "writing   %d lines in %.1f s after a %.0f s warm-up: %.0f lines/s from %d agents", written, writing, warmup, Double(written) / writing,
                agents))
        let stored = e2eQuery(binary, db: work + "/live.db", "SELECT count(*) FROM kubernetes_pod_logs").first?.first ?? "?"
        say("followers \(followers) × `kubetrail logs -f --server`: \(latencies.count) lines printed of \(expected) expected; \(stored) stored")
        say(
            String(
                format: "latency   line written → printed: p50 %.3f s, p99 %.3f s, max %.3f s (goal p99 ≤ 2 s)", p(0.5), p(0.99), latencies.last ?? 0))
    }

    static func criTime() -> String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.000000000Z", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec
        )
    }

    // MARK: Ingest with and without followers

    func ingest(binary: String, work: String, token: String, queryToken: String, client: FollowerClient) throws {
        var generator = AuditEventGenerator(seed: 5, start: Timestamp.now.adding(microseconds: -3_600_000_000), end: .now)
        var bodies: [[UInt8]] = []
        let batches = 150
        for b in 0..<batches { bodies.append(try generator.batch(b, of: batches).deflated()) }
        var with: [Double] = [], without: [Double] = []
        for round in 0..<pairs {
            for attached in round % 2 == 0 ? [true, false] : [false, true] {
                let db = work + "/ingest-\(round)-\(attached).db"
                defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
                let count = attached ? ingestFollowers : 0
                var attachedProcesses: [Process] = []
                var rawReaders: [RawTailReader] = []
                let clientCPU = ClientCPU()
                let phase = try IngestPhase.run(
                    binary: binary, database: db, aggregators: 1,
                    arguments: [
                        "--ingest-token-file", work + "/tokens", "--query-token-file", work + "/query.tokens", "--no-detections", "--max-followers", "100"
                    ],
                    token: token, bodies: bodies, clients: 8,
                    beforeSending: { ports in
                        for _ in 0..<(client == .raw ? count : 0) {
                            rawReaders.append(
                                try RawTailReader(
                                    port: ports[0], token: queryToken, table: "kubernetes_audit_logs", condition: followerWhere.isEmpty ? nil : followerWhere,
                                    acceptEncoding: followerEncoding == .identity ? nil : followerEncoding.rawValue))
                        }
                        for _ in 0..<(client == .raw ? 0 : count) {
                            let p = Process()
                            p.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
                            var arguments = [
                                "-n", String(followerNice), binary, "tail", "kubernetes_audit_logs", "-o", "jsonl", "--server", "http://127.0.0.1:\(ports[0])",
                                "--token-file",
                                work + "/query.tokens"
                            ]
                            if !followerWhere.isEmpty { arguments += ["--where", followerWhere] }
                            p.arguments = arguments
                            p.standardOutput = FileHandle.nullDevice
                            p.standardError = FileHandle.nullDevice
                            try p.run()
                            attachedProcesses.append(p)
                        }
                        if count > 0 { Thread.sleep(forTimeInterval: 2) }
                        return {
                            clientCPU.received = rawReaders.map { $0.stop() }
                            clientCPU.seconds = attachedProcesses.map { processCPUSeconds($0.processIdentifier) }.reduce(0, +)
                            for p in attachedProcesses {
                                p.terminate()
                                p.waitUntilExit()
                            }
                        }
                    })
                let rate = Double(batches * 1000) / phase.elapsed
                if attached { with.append(rate) } else { without.append(rate) }
                let clients: String
                switch (count, client) {
                case (0, _): clients = ""
                case (_, .raw):
                    clients = String(
                        format: " (raw connections, \(followerEncoding.rawValue); each received %.1f–%.1f MiB)",
                        Double(clientCPU.received.min() ?? 0) / 1_048_576,
                        Double(clientCPU.received.max() ?? 0) / 1_048_576)
                default:
                    clients = String(
                        format: " (`kubetrail tail` processes); the followers' own CPU %.1f s (at nice %d, on the same 2 cores)", clientCPU.seconds,
                        followerNice)
                }
                say(
                    String(format: "ingest    %2d followers: %.0f audit rows/s (%.2f s), aggregator CPU %.1f s", count, rate, phase.elapsed, phase.cpu)
                        + clients)
            }
        }
        let ratios = zip(with, without).map { $0 / $1 }.sorted()
        let median = ratios.count % 2 == 1 ? ratios[ratios.count / 2] : (ratios[ratios.count / 2 - 1] + ratios[ratios.count / 2]) / 2
        say(
            "ratio     ingest rate with \(ingestFollowers) \(client == .raw ? "raw" : "`kubetrail tail`") followers / none, by pair: "
                + ratios.map { String(format: "%.2f", $0) }.joined(separator: " ")
                + String(format: "; median %.2f", median)
                + (client == .raw
                    ? " (goal ≥ 0.90: what followers cost the aggregator)"
                    : " (the followers' own decoding and printing on these 2 cores included)"))
    }
}

/// Latencies gathered by the followers' reader threads.
private final class Received: @unchecked Sendable {
    private let lock = NSLock()
    private var latencies: [Double] = []
    func add(_ l: [Double]) { lock.withLock { latencies += l } }
    func reset() { lock.withLock { latencies.removeAll() } }
    var count: Int { lock.withLock { latencies.count } }
    var all: [Double] { lock.withLock { latencies } }
}

/// The follower processes' CPU seconds, read before they are stopped.
private final class ClientCPU: @unchecked Sendable {
    var seconds = 0.0
    /// Bytes each raw follower received.
    var received: [Int] = []
}
