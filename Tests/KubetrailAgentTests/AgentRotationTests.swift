import Foundation
import Testing
import TestSupport

/// Real files rotated the ways kubelet, lumberjack and logrotate do it, while being written.
@Suite(.serialized) struct AgentRotationTests {
    @Test func renameRotationOfAuditAndContainerLogsLosesAndDuplicatesNothing() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let podDir = try node.makeContainer()
        try node.startAgent()
        let audit = node.auditDir + "/audit.log"
        var written = 0
        for generation in 0..<4 {
            for batch in 0..<5 {
                let base = generation * 500 + batch * 100
                LineWriter.append(audit, (base..<(base + 100)).map { LineWriter.auditEvent($0) })
                // A CRI P…F pair per batch, the rest single lines.
                var cri = (base..<(base + 99)).map { LineWriter.criLine($0) }
                cri.append(
                    LineWriter.criLine(base + 99).replacingOccurrences(of: " F ", with: " P ") + "\n"
                        + LineWriter.criLine(base + 99).replacingOccurrences(of: "line", with: "rest"))
                LineWriter.append(podDir + "/0.log", cri)
                written += 100
                Thread.sleep(forTimeInterval: 0.02)
            }
            // lumberjack: rename to <name>-<timestamp>.log, then a new file; kubelet: 0.log.<timestamp>.
            try FileManager.default.moveItem(atPath: audit, toPath: node.auditDir + "/audit-2026-11-27T10-3\(generation)-45.123.log")
            try FileManager.default.moveItem(atPath: podDir + "/0.log", toPath: podDir + "/0.log.20261127-10304\(generation)")
            // The runtime still appends to the renamed file before it reopens.
            LineWriter.append(podDir + "/0.log.20261127-10304\(generation)", [LineWriter.criLine(90_000 + generation)])
            _ = FileManager.default.createFile(atPath: podDir + "/0.log", contents: nil)
            _ = FileManager.default.createFile(atPath: audit, contents: nil)
        }
        let containerLines = written + 4
        let done = node.waitUntil(60) {
            node.number("SELECT count(*) FROM kubernetes_audit_logs") == written
                && node.number("SELECT count(*) FROM kubernetes_pod_logs") == containerLines
        }
        #expect(done, "\(node.agent?.log ?? "")")
        #expect(node.number("SELECT count(DISTINCT audit_id) FROM kubernetes_audit_logs") == written)
        #expect(node.number("SELECT count(DISTINCT log_message) FROM kubernetes_pod_logs") == containerLines)
        // The P…F pairs were joined, and pod metadata came from the path and the link.
        #expect(node.number("SELECT count(*) FROM kubernetes_pod_logs WHERE log_message LIKE '%line%rest%'") == 20)
        #expect(
            node.number(
                "SELECT count(*) FROM kubernetes_pod_logs WHERE namespace = 'shop' AND pod_name = 'web-1' AND container_id = '"
                    + String(repeating: "0", count: 64) + "'") == containerLines)
        #expect((node.agent?.metric("kubetrail_agent_rotations_total") ?? 0) >= 8)
        // Rotated files that are drained, acknowledged and idle are closed.
        let closed = node.waitUntil(15) { (node.agent?.metric("kubetrail_agent_files_closed_total") ?? 0) >= 8 }
        #expect(closed)
        #expect(node.agent?.stop() == 0)
        // A restart reads nothing again: the rotated names are known files.
        try node.startAgent()
        Thread.sleep(forTimeInterval: 2)
        #expect(node.number("SELECT count(*) FROM kubernetes_audit_logs") == written)
        #expect((node.agent?.metric("kubetrail_agent_records_acked_total") ?? -1) == 0)
    }

    @Test func copyTruncateIsDetectedAndTheNewContentIsRead() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        try node.startAgent()
        let audit = node.auditDir + "/audit.log"
        LineWriter.append(audit, (0..<300).map { LineWriter.auditEvent($0, tag: "before") })
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 300 })
        // logrotate copytruncate: copy away, truncate in place, the writer carries on at 0.
        try FileManager.default.copyItem(atPath: audit, toPath: node.dir.path("audit.log.1"))
        let h = try #require(FileHandle(forWritingAtPath: audit))
        try h.truncate(atOffset: 0)
        try h.close()
        LineWriter.append(audit, (0..<100).map { LineWriter.auditEvent($0, tag: "after") })
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 400 }, "\(node.agent?.log ?? "")")
        #expect((node.agent?.metric("kubetrail_agent_truncations_total") ?? 0) >= 1)
        #expect(node.agent?.log.contains("file truncated") == true)
    }

    @Test func aDeletedRotatedFileIsDrainedOrSpooledNeverLost() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.reservePort()  // the aggregator is down at first: nothing is acknowledged
        let podDir = try node.makeContainer()
        try node.startAgent()
        LineWriter.append(podDir + "/0.log", (0..<500).map { LineWriter.criLine($0) })
        try FileManager.default.moveItem(atPath: podDir + "/0.log", toPath: podDir + "/0.log.20261127-103045")
        LineWriter.append(podDir + "/0.log", (500..<510).map { LineWriter.criLine($0) })
        Thread.sleep(forTimeInterval: 1.5)  // the agent has both open
        try FileManager.default.removeItem(atPath: podDir + "/0.log.20261127-103045")
        Thread.sleep(forTimeInterval: 1.5)
        #expect((node.agent?.metric("kubetrail_agent_held_deleted_files") ?? 0) == 1)
        // Stopping while the aggregator is unreachable: the deleted file's bytes go to the spool.
        #expect(node.agent?.stop() == 0)
        #expect(node.agent?.log.contains("spooled the unacknowledged bytes of a deleted file") == true, "\(node.agent?.log ?? "")")
        try node.startAggregator()
        try node.startAgent()
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_pod_logs") == 510 }, "\(node.agent?.log ?? "")")
        #expect(node.number("SELECT count(DISTINCT log_message) FROM kubernetes_pod_logs") == 510)
        // Once acknowledged, the spool is emptied.
        #expect(node.waitUntil(10) { ((try? FileManager.default.contentsOfDirectory(atPath: node.stateDir + "/spool")) ?? []).isEmpty })
    }

    @Test func aReusedInodeIsReadFromItsStart() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        try node.startAgent()
        let path = node.auditDir + "/audit.log"
        LineWriter.append(path, (0..<50).map { LineWriter.auditEvent($0, tag: "old") })
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 50 })
        #expect(node.agent?.stop() == 0)
        let oldInode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        try FileManager.default.removeItem(atPath: path)
        // The freed inode is usually handed to the next file created; its content is longer.
        LineWriter.append(path, (0..<80).map { LineWriter.auditEvent($0, tag: "new") })
        let newInode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        try node.startAgent()
        #expect(
            node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs WHERE audit_id LIKE 'new-%'") == 80 },
            "inode reused: \(oldInode == newInode); \(node.agent?.log ?? "")")
    }
}
