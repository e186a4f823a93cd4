import Foundation
import Testing
import TestSupport

/// `/var/log/containers` holds names only: what they lead to must be kubelet's files in the pods
/// directory, never some other file on the node.
@Suite(.serialized) struct AgentLinkTests {
    @Test func linksAndLinkedFilesLeadingOutsideThePodsDirectoryAreNotShipped() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let legit = try node.makeContainer(namespace: "shop", pod: "web-1")
        LineWriter.append(legit + "/0.log", (0..<5).map { LineWriter.criLine($0, tag: "legit") })
        // A link to a look-alike directory next to the pods directory (same name prefix).
        let elsewhere = node.dir.path("pods-evil/shop_evil_uid/app")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        LineWriter.append(elsewhere + "/0.log", (0..<5).map { LineWriter.criLine($0, tag: "secret") })
        try FileManager.default.createSymbolicLink(
            atPath: node.containersDir + "/evil_shop_app-\(String(repeating: "e", count: 64)).log",
            withDestinationPath: elsewhere + "/0.log")
        // A link through `..` out of the pods directory.
        try FileManager.default.createDirectory(atPath: node.dir.path("host"), withIntermediateDirectories: true)
        LineWriter.append(node.dir.path("host/0.log"), (0..<5).map { LineWriter.criLine($0, tag: "dotdot") })
        try FileManager.default.createSymbolicLink(
            atPath: node.containersDir + "/up_shop_app-\(String(repeating: "d", count: 64)).log",
            withDestinationPath: node.podsDir + "/../host/0.log")
        // A symlink planted among kubelet's files in a watched container directory.
        LineWriter.append(node.dir.path("planted.log"), (0..<5).map { LineWriter.criLine($0, tag: "planted") })
        try FileManager.default.createSymbolicLink(atPath: legit + "/1.log", withDestinationPath: node.dir.path("planted.log"))
        try node.startAgent(["--no-audit"])
        #expect(
            node.waitUntil(30) {
                node.number("SELECT count(*) FROM kubernetes_pod_logs WHERE log_message LIKE 'legit %'") == 5
                    && (node.agent?.metric("kubetrail_agent_links_outside_pods_dir_total") ?? 0) == 2
            }, "\(node.agent?.log ?? "")")
        // Stopping flushes and waits for every batch of what was read: nothing else was read.
        #expect(node.agent?.stop() == 0)
        #expect(node.number("SELECT count(*) FROM kubernetes_pod_logs") == 5)
        #expect(node.agent?.log.contains("container log link points outside the pods directory; not followed") == true)
    }
}
