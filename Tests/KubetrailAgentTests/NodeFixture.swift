import Foundation
import TestSupport

/// One simulated node: `var/log` trees under a temp dir, an aggregator with its database, and
/// the agent tailing them — all real processes on 127.0.0.1.
final class NodeFixture: @unchecked Sendable {
    let dir: TemporaryDirectory
    let token = "ingest-\(UUID().uuidString)"
    var db: String { dir.path("agg.db") }
    var auditDir: String { dir.path("audit") }
    var containersDir: String { dir.path("containers") }
    var podsDir: String { dir.path("pods") }
    var stateDir: String { dir.path("state") }
    var aggregator: ServerProcess?
    var agent: AgentProcess?
    private(set) var port = 0

    init() throws {
        dir = try TemporaryDirectory()
        for d in [auditDir, containersDir, podsDir, stateDir] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try dir.write("ingest.tokens", token + "\n")
        try dir.write("agent.token", token + "\n")
        try dir.write("query.tokens", "query-\(UUID().uuidString)\n")
    }

    /// Starts the aggregator, on the same port as before when it ran already.
    func startAggregator(_ extra: [String] = []) throws {
        let server = try ServerProcess(
            arguments: [
                "--db", db, "--ingest-token-file", dir.path("ingest.tokens"),
                "--query-token-file", dir.path("query.tokens")
            ] + extra,
            listen: "127.0.0.1:\(port)")
        port = server.port
        aggregator = server
    }

    /// A port nothing listens on yet, for an agent started before its aggregator.
    func reservePort() throws {
        let probe = try ServerProcess(arguments: ["--db", dir.path("probe.db"), "--ingest-token-file", dir.path("ingest.tokens")])
        port = probe.port
        probe.stop()
    }

    var agentArguments: [String] { agentArguments(aggregator: "http://127.0.0.1:\(port)") }

    func agentArguments(aggregator: String) -> [String] {
        [
            "--aggregator", aggregator, "--token-file", dir.path("agent.token"), "--state-dir", stateDir,
            "--audit-path", auditDir + "/*.log", "--containers-dir", containersDir, "--pods-dir", podsDir, "--node-name", "node-a",
            "--cluster-name", "test", "--batch-wait", "200ms", "--rescan-interval", "1s", "--rotated-idle", "1s",
            "--backoff", "100ms,1s", "--shutdown-timeout", "5s"
        ]
    }

    /// Starts the agent, sending to the fixture's aggregator or to `aggregator` (a URL).
    @discardableResult
    func startAgent(aggregator: String? = nil, _ extra: [String] = []) throws -> AgentProcess {
        let a = try AgentProcess(
            arguments: agentArguments(aggregator: aggregator ?? "http://127.0.0.1:\(port)") + extra,
            logPath: dir.path("agent.log"))
        agent = a
        return a
    }

    /// A container's kubelet directory and its `/var/log/containers` link; returns the directory.
    func makeContainer(namespace: String = "shop", pod: String = "web-1", container: String = "app", restart: Int = 0) throws -> String {
        let podDir = podsDir + "/\(namespace)_\(pod)_uid-\(pod)/\(container)"
        try FileManager.default.createDirectory(atPath: podDir, withIntermediateDirectories: true)
        let id = String(repeating: "\(restart % 10)", count: 64)
        _ = FileManager.default.createFile(atPath: podDir + "/\(restart).log", contents: nil)
        try FileManager.default.createSymbolicLink(
            atPath: containersDir + "/\(pod)_\(namespace)_\(container)-\(id).log",
            withDestinationPath: podDir + "/\(restart).log")
        return podDir
    }

    func query(_ sql: String) -> [[String]] {
        guard let r = try? Subprocess.kubetrail(["query", "--db", db, "--output", "csv", sql]), r.status == 0 else { return [] }
        return r.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    func number(_ sql: String) -> Int { Int(query(sql).first?.first ?? "") ?? -1 }

    /// Waits until `condition` holds (checking every 200 ms) or the time is up.
    @discardableResult
    func waitUntil(_ seconds: Double = 60, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return condition()
    }

    func stopAll() {
        agent?.stop()
        aggregator?.stop()
    }
}

/// Appends realistic lines with unique content, so "stored exactly once" can be checked.
struct LineWriter {
    /// The `auditID` of `auditEvent(n, tag:)`.
    static func auditID(_ n: Int, tag: String = "a") -> String {
        "\(tag)-\(n)-" + String(repeating: "0", count: max(0, 8 - String(n).count)) + String(n)
    }

    /// `padding`: that many random hex digits in the request URI, which no compression removes
    /// (a test that needs bytes in flight, not rows).
    static func auditEvent(_ n: Int, tag: String = "a", padding: Int = 0) -> String {
        let id = auditID(n, tag: tag)
        var pad = ""
        if padding > 0 {
            pad = "&pad="
            while pad.utf8.count < padding + 5 { pad += String(UInt64.random(in: 1 << 60...UInt64.max), radix: 16) }
        }
        return
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"\#(id)","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods?limit=\#(n)\#(pad)","verb":"list","user":{"username":"system:serviceaccount:shop:deployer","groups":["system:serviceaccounts"]},"sourceIPs":["10.0.0.7"],"userAgent":"kubectl/v1.32.0","objectRef":{"resource":"pods","namespace":"shop","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-27T10:00:00.000000Z","stageTimestamp":"2026-11-27T10:00:00.001000Z"}"#
    }

    static func criLine(_ n: Int, tag: String = "c", stream: String = "stdout") -> String {
        "2026-11-27T10:00:00.\(String(format: "%09d", n))Z \(stream) F \(tag) line \(n) level=info msg=\"request served\""
    }

    static func append(_ path: String, _ lines: [String]) {
        let h =
            FileHandle(forWritingAtPath: path)
            ?? {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                return FileHandle(forWritingAtPath: path)!
            }()
        h.seekToEndOfFile()
        h.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        try? h.close()
    }
}
