import Foundation
import Testing
import TestSupport

/// Crashes, outages and refusals: the agent must neither lose nor duplicate a line.
@Suite(.serialized) struct AgentFailureTests {
    @Test func killedAgentsAndAnAggregatorOutageLoseAndDuplicateNothing() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let podDir = try node.makeContainer()
        try node.startAgent()
        let writer = BackgroundWriter(audit: node.auditDir + "/audit.log", container: podDir + "/0.log")
        writer.start()
        var random = SystemRandomNumberGenerator()
        for round in 0..<4 {
            Thread.sleep(forTimeInterval: Double.random(in: 0.3...1.2, using: &random))
            node.agent?.kill()
            if round == 2 {
                // The aggregator goes away for a while, comes back on the same port.
                node.aggregator?.stop()
                try node.startAgent()
                Thread.sleep(forTimeInterval: 2)
                try node.startAggregator()
            } else {
                try node.startAgent()
            }
        }
        let written = writer.stop()
        let done = node.waitUntil(60) {
            node.number("SELECT count(*) FROM kubernetes_audit_logs") == written
                && node.number("SELECT count(*) FROM kubernetes_pod_logs") == written
        }
        #expect(
            done,
            "written \(written), audit \(node.number("SELECT count(*) FROM kubernetes_audit_logs")), logs \(node.number("SELECT count(*) FROM kubernetes_pod_logs"))"
        )
        #expect(node.number("SELECT count(DISTINCT audit_id) FROM kubernetes_audit_logs") == written)
        #expect(node.number("SELECT count(DISTINCT log_message) FROM kubernetes_pod_logs") == written)
        #expect(node.agent?.log.contains("batch not delivered; retrying") == true)
    }

    @Test func tooLargeBatchesAreSplitAndAWrongTokenIsRetriedUntilItIsFixed() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        // Bodies over 40 kB are refused with 413; the agent's 1 MiB batches deflate to more.
        try node.startAggregator(["--max-body-bytes", "40000"])
        try node.dir.write("agent.token", "not-the-token\n")
        try node.startAgent(["--compression-level", "0"])
        LineWriter.append(node.auditDir + "/audit.log", (0..<400).map { LineWriter.auditEvent($0) })
        #expect(node.waitUntil(10) { node.agent?.log.contains("HTTP 401") == true })
        #expect(node.number("SELECT count(*) FROM kubernetes_audit_logs") <= 0)
        // The Secret is fixed: the token file is read again, nothing was dropped meanwhile.
        try node.dir.write("agent.token", node.token + "\n")
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 400 }, "\(node.agent?.log ?? "")")
        #expect((node.agent?.metric("kubetrail_agent_batches_split_total") ?? 0) >= 1)
        #expect(!(node.agent?.log.contains(node.token) ?? true))
    }

    @Test func refusedBatchesGoToQuarantineAndCanBeReplayed() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        // Something at the aggregator's address that refuses every batch with 422.
        let refuser = try FakeAggregator(status: 422, body: #"{"error":"refused for the test"}"#)
        defer { refuser.stop() }
        let agent = try node.startAgent(aggregator: refuser.url)
        LineWriter.append(node.auditDir + "/audit.log", (0..<30).map { LineWriter.auditEvent($0) })
        #expect(node.waitUntil(20) { (agent.metric("kubetrail_agent_batches_quarantined_total") ?? 0) >= 1 })
        #expect(agent.log.contains("kept in quarantine, not dropped"))
        #expect(agent.stop() == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: node.stateDir + "/quarantine")
        #expect(files.contains { $0.hasSuffix(".ktwb.zz") } && files.contains { $0.hasSuffix(".txt") })
        // After the cause is fixed, the operator sends them again.
        try node.startAggregator()
        let replay = try Subprocess.run(
            Subprocess.productURL("kubetrail-agent"),
            [
                "replay-quarantine", "--aggregator", "http://127.0.0.1:\(node.port)",
                "--token-file", node.dir.path("agent.token"), "--state-dir", node.stateDir
            ])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("; 0 still refused"))
        #expect(node.number("SELECT count(*) FROM kubernetes_audit_logs") == 30)
        #expect(try FileManager.default.contentsOfDirectory(atPath: node.stateDir + "/quarantine").isEmpty)
    }

    @Test func anOverflowedInotifyQueueIsRecoveredByARescan() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        // Rescans are rare here: only the overflow can make the agent look again.
        try node.startAgent(["--rescan-interval", "600s"])
        // Paused only once it watches the directory (a line of it stored): under load it may
        // not yet, and then the churn below would queue nothing to overflow.
        LineWriter.append(node.auditDir + "/early.log", [LineWriter.auditEvent(0, tag: "early")])
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 1 })
        node.agent?.pause()
        // More events than the kernel queues (max_queued_events, 16384 by default).
        let limit =
            Int(
                (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_queued_events", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "16384") ?? 16384
        for i in 0..<(limit / 2 + 100) {
            let p = node.auditDir + "/churn-\(i).tmp"
            _ = FileManager.default.createFile(atPath: p, contents: nil)
            unlink(p)
        }
        for f in 0..<3 {
            LineWriter.append(node.auditDir + "/late-\(f).log", (0..<20).map { LineWriter.auditEvent($0, tag: "late\(f)") })
        }
        node.agent?.resume()
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 61 }, "\(node.agent?.log ?? "")")
        #expect((node.agent?.metric("kubetrail_agent_inotify_overflows_total") ?? 0) >= 1)
    }
}

/// Writes audit events and container lines at a steady pace on its own thread.
final class BackgroundWriter: @unchecked Sendable {
    let audit: String
    let container: String
    private let lock = NSLock()
    private var running = true
    private var count = 0
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    init(audit: String, container: String) {
        self.audit = audit
        self.container = container
    }

    func start() {
        let t = Thread { [self] in
            while lock.withLock({ running }) {
                let base = lock.withLock { count }
                LineWriter.append(audit, (base..<(base + 25)).map { LineWriter.auditEvent($0) })
                LineWriter.append(container, (base..<(base + 25)).map { LineWriter.criLine($0) })
                lock.withLock { count += 25 }
                Thread.sleep(forTimeInterval: 0.01)
            }
            finished.signal()
        }
        thread = t
        t.start()
    }

    /// Stops writing; returns how many lines each file got.
    func stop() -> Int {
        lock.withLock { running = false }
        finished.wait()
        return lock.withLock { count }
    }
}
