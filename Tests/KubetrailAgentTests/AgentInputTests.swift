import Foundation
import Testing
import TestSupport

/// Hostile file contents: huge lines, invalid UTF-8, garbage among good lines.
@Suite(.serialized) struct AgentInputTests {
    @Test func aFiftyMegabyteLineIsCutAndFlaggedAndTailingGoesOn() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let podDir = try node.makeContainer()
        try node.startAgent()
        // Random text: a run of one letter would deflate past the aggregator's bomb guard.
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom")).readData(ofLength: 38 << 20)
        let huge = "yyy" + random.base64EncodedString()
        LineWriter.append(podDir + "/0.log", [LineWriter.criLine(1), "2026-11-27T10:00:01.000000000Z stdout F " + huge, LineWriter.criLine(2)])
        LineWriter.append(
            node.auditDir + "/audit.log",
            [LineWriter.auditEvent(1), String(LineWriter.auditEvent(2).dropLast()) + #","pad":""# + huge + "\"}", LineWriter.auditEvent(3)])
        #expect(
            node.waitUntil(60) {
                node.number("SELECT count(*) FROM kubernetes_pod_logs") == 3 && node.number("SELECT count(*) FROM kubernetes_audit_logs") == 2
            }, "\(node.agent?.log ?? "")")
        // The container line keeps its first MiB and says it was cut.
        let cut = node.query("SELECT log_truncated, length(log_message) FROM kubernetes_pod_logs WHERE log_message LIKE 'yyy%'")
        #expect(cut.count == 1)
        #expect(cut.first?.first == "1")
        #expect((Int(cut.first?.last ?? "") ?? 0) > 1_000_000 && (Int(cut.first?.last ?? "") ?? 0) <= 1 << 20)
        // Half an audit event is not stored as an event: the aggregator says so, the agent counts it.
        #expect(node.waitUntil(10) { (node.agent?.metric("kubetrail_agent_records_rejected_by_aggregator_total") ?? 0) == 1 })
        #expect((node.agent?.metric("kubetrail_agent_truncated_lines_total") ?? 0) == 2)
        #expect(node.agent?.log.contains("truncated_by_agent") == true)
    }

    @Test func invalidUTF8AndGarbageLinesDoNotStopTheFile() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let podDir = try node.makeContainer()
        try node.startAgent()
        var bytes = Data((LineWriter.criLine(1) + "\n").utf8)
        bytes += Data("2026-11-27T10:00:01.000000000Z stdout F bad ".utf8) + Data([0xFF, 0xFE, 0xC3, 0x28]) + Data(" bytes\n".utf8)
        bytes += Data("not a cri line at all\n".utf8)
        bytes += Data((LineWriter.criLine(3) + "\n").utf8)
        let h = try #require(FileHandle(forWritingAtPath: podDir + "/0.log"))
        h.write(bytes)
        try h.close()
        var audit = Data((LineWriter.auditEvent(1) + "\n").utf8)
        audit += Data([0x7B, 0x22, 0xFF, 0x0A])  // {"<invalid>
        audit += Data((LineWriter.auditEvent(2) + "\n").utf8)
        _ = FileManager.default.createFile(atPath: node.auditDir + "/audit.log", contents: audit)
        #expect(
            node.waitUntil(30) {
                node.number("SELECT count(*) FROM kubernetes_pod_logs") == 3 && node.number("SELECT count(*) FROM kubernetes_audit_logs") == 2
            }, "\(node.agent?.log ?? "")")
        #expect(node.number("SELECT count(*) FROM kubernetes_pod_logs WHERE log_message LIKE 'bad %' AND instr(log_message, char(65533)) > 0") == 1)
        #expect((node.agent?.metric("kubetrail_agent_records_rejected_by_aggregator_total") ?? 0) == 2)
    }

    @Test func namespacesAreFilteredFromTheFileName() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let shop = try node.makeContainer(namespace: "shop", pod: "web-1")
        let system = try node.makeContainer(namespace: "kube-system", pod: "coredns-1")
        let other = try node.makeContainer(namespace: "billing", pod: "api-1")
        try node.startAgent(["--namespace", "shop,kube-*", "--exclude-namespace", "kube-system", "--no-audit"])
        LineWriter.append(shop + "/0.log", [LineWriter.criLine(1, tag: "shop")])
        LineWriter.append(system + "/0.log", [LineWriter.criLine(2, tag: "system")])
        LineWriter.append(other + "/0.log", [LineWriter.criLine(3, tag: "billing")])
        #expect(node.waitUntil(20) { node.number("SELECT count(*) FROM kubernetes_pod_logs") == 1 })
        Thread.sleep(forTimeInterval: 1.5)
        #expect(node.query("SELECT namespace FROM kubernetes_pod_logs").map(\.first) == ["shop"])
    }
}

@Suite(.serialized) struct AgentPodsDirectoryTests {
    @Test func linksToTheHostsPodsDirectoryAreFollowedWhereItIsMounted() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        // In the agent's container the host's /var/log/pods is mounted at --pods-dir; the links
        // still say /var/log/pods/….
        let podDir = node.podsDir + "/shop_web-9_uid-9/app"
        try FileManager.default.createDirectory(atPath: podDir, withIntermediateDirectories: true)
        LineWriter.append(podDir + "/0.log", (0..<5).map { LineWriter.criLine($0, tag: "mounted") })
        let id = String(repeating: "c", count: 64)
        try FileManager.default.createSymbolicLink(
            atPath: node.containersDir + "/web-9_shop_app-\(id).log",
            withDestinationPath: "/var/log/pods/shop_web-9_uid-9/app/0.log")
        try node.startAgent(["--pods-dir", node.podsDir, "--no-audit"])
        #expect(
            node.waitUntil(20) { node.number("SELECT count(*) FROM kubernetes_pod_logs WHERE container_id = '\(id)'") == 5 },
            "\(node.agent?.log ?? "")")
    }
}

@Suite(.serialized) struct AgentEndpointTests {
    @Test func healthAndMetricsAnswerAndEverythingElseIsRefused() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.reservePort()
        let agent = try node.startAgent()
        let base = "http://127.0.0.1:\(agent.metricsPort)"
        #expect(try Curl.request(base + "/healthz", method: "GET").status == 200)
        let metrics = try Curl.request(base + "/metrics", method: "GET")
        #expect(metrics.status == 200 && metrics.body.contains("# TYPE kubetrail_agent_unacked_bytes gauge"))
        #expect(try Curl.request(base + "/nope", method: "GET").status == 404)
        #expect(try Curl.request(base + "/metrics", method: "POST", body: Data("x".utf8)).status == 405)
        // A peer that connects and sends nothing does not block the listener.
        let idle = Process()
        idle.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        idle.arguments = ["-s", "--max-time", "5", "telnet://127.0.0.1:\(agent.metricsPort)"]
        idle.standardInput = Pipe()
        idle.standardOutput = FileHandle.nullDevice
        try idle.runUnblocked()
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try Curl.request(base + "/healthz", method: "GET").status == 200)
        idle.terminate()
        #expect(agent.stop() == 0)
        #expect(agent.log.contains("stopped"))
    }
}
