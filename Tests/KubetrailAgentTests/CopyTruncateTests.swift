import Foundation
import Testing
import TestSupport
@testable import KubetrailAgent

/// logrotate's copytruncate (copy the log to `<name>.1` or `<name>-<date>`, cut the original to
/// zero) with lines the agent had not read yet: those are in the copy, and the agent reads them
/// from there — when it sees the cut live and when the cut happened while it was down.
@Suite(.serialized) struct CopyTruncateTests {
    @Test func copyNames() {
        for name in ["audit.log.1", "audit.log-20261204", "audit.log_old", "audit.log.1.txt"] {
            #expect(TruncatedCopy.isCopyName(name, of: "audit.log"), "\(name)")
        }
        for name in [
            "audit.log", "audit.log.", "audit.logs", "audit.log.1.gz", "audit.log-20261204.zst", "audit.log.1.tmp",
            "xaudit.log.1", "audit.lo.1"
        ] {
            #expect(!TruncatedCopy.isCopyName(name, of: "audit.log"), "\(name)")
        }
        #expect(TruncatedCopy.fingerprint(ofKey: "64769:1234:0123456789abcdef") == "0123456789abcdef")
        #expect(TruncatedCopy.fingerprint(ofKey: "64769:1234:-") == nil)
        #expect(TruncatedCopy.deviceInode(ofKey: "64769:1234:0123456789abcdef") == DeviceInode(device: 64769, inode: 1234))
        #expect(TruncatedCopy.deviceInode(ofKey: "garbage") == nil)
    }

    /// The agent is frozen (SIGSTOP) while 200 lines are appended, the file is copied and cut,
    /// and new lines start it again: on waking, it finds the file below its read offset.
    @Test func linesUnreadAtALiveCutAreReadFromTheCopy() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let agent = try node.startAgent()
        let audit = node.auditDir + "/audit.log"
        LineWriter.append(audit, (0..<300).map { LineWriter.auditEvent($0, tag: "before") })
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 300 })
        // An older copy (another first line) and a compressed one are not this file's copy.
        LineWriter.append(node.auditDir + "/audit.log.2", (0..<10).map { LineWriter.auditEvent($0, tag: "older") })
        LineWriter.append(node.auditDir + "/audit.log.1.gz", (0..<10).map { LineWriter.auditEvent($0, tag: "zipped") })

        agent.pause()
        LineWriter.append(audit, (0..<200).map { LineWriter.auditEvent($0, tag: "unread") })
        try copyTruncate(audit, to: audit + ".1")
        LineWriter.append(audit, (0..<50).map { LineWriter.auditEvent($0, tag: "after") })
        agent.resume()

        let all = node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 550 }
        #expect(all, "\(agent.log)")
        #expect(node.number("SELECT count(*) FROM kubernetes_audit_logs WHERE audit_id LIKE 'unread-%'") == 200)
        #expect(node.number("SELECT count(*) FROM kubernetes_audit_logs WHERE audit_id LIKE 'older-%' OR audit_id LIKE 'zipped-%'") == 0)
        #expect((agent.metric("kubetrail_agent_truncated_files_continued_from_copy_total") ?? 0) == 1)
        #expect(agent.log.contains("rest of its old content is read from the copy"))

        // The copy is closed once drained, and a restart sends nothing again.
        #expect(node.waitUntil(15) { (agent.metric("kubetrail_agent_files_closed_total") ?? 0) >= 1 })
        #expect(agent.stop() == 0)
        let again = try node.startAgent()
        Thread.sleep(forTimeInterval: 2)
        #expect((again.metric("kubetrail_agent_records_acked_total") ?? -1) == 0, "\(again.log)")
        #expect((again.metric("kubetrail_agent_truncated_files_continued_from_copy_total") ?? -1) == 0)
        #expect(node.number("SELECT count(*) FROM kubernetes_audit_logs") == 550)
    }

    /// Killed (no shutdown, checkpoint as last saved), then the file grows, is copied and cut:
    /// the restarted agent finds the checkpoint's file changed and reads the copy from the checkpoint.
    @Test func linesWrittenWhileTheAgentWasDownAndCutAreReadFromTheCopy() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let agent = try node.startAgent()
        let audit = node.auditDir + "/audit.log"
        LineWriter.append(audit, (0..<300).map { LineWriter.auditEvent($0, tag: "before") })
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 300 })
        Thread.sleep(forTimeInterval: 3)  // checkpoints are saved at most once a second
        agent.kill()

        LineWriter.append(audit, (0..<200).map { LineWriter.auditEvent($0, tag: "unread") })
        try copyTruncate(audit, to: audit + "-20261204")
        LineWriter.append(audit, (0..<50).map { LineWriter.auditEvent($0, tag: "after") })
        let restarted = try node.startAgent()

        let all = node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 550 }
        #expect(all, "\(restarted.log)")
        #expect(node.number("SELECT count(DISTINCT audit_id) FROM kubernetes_audit_logs") == 550)
        #expect((restarted.metric("kubetrail_agent_truncated_files_continued_from_copy_total") ?? 0) == 1)
        // Read from the checkpoint on: the 300 acknowledged lines are not sent again.
        #expect((restarted.metric("kubetrail_agent_records_acked_total") ?? 0) == 250, "\(restarted.log)")
    }

    /// A file beside the log with the same first line but other bytes where the checkpoint
    /// ends is not the copy: it is not read, and the cut file's new lines still are.
    @Test func aCopyThatDiffersAtTheCheckpointIsNotRead() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let agent = try node.startAgent()
        let audit = node.auditDir + "/audit.log"
        LineWriter.append(audit, (0..<300).map { LineWriter.auditEvent($0, tag: "before") })
        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 300 })
        #expect(agent.stop() == 0)

        let first = try #require(String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").first)
        LineWriter.append(audit + ".1", [String(first)] + (0..<400).map { LineWriter.auditEvent($0, tag: "forged") })
        let h = try #require(FileHandle(forWritingAtPath: audit))
        try h.truncate(atOffset: 0)
        try h.close()
        LineWriter.append(audit, (0..<50).map { LineWriter.auditEvent($0, tag: "after") })
        let restarted = try node.startAgent()

        #expect(node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 350 }, "\(restarted.log)")
        Thread.sleep(forTimeInterval: 1.5)
        #expect(node.number("SELECT count(*) FROM kubernetes_audit_logs WHERE audit_id LIKE 'forged-%'") == 0)
        #expect((restarted.metric("kubetrail_agent_truncated_files_continued_from_copy_total") ?? -1) == 0)
    }

    /// The aggregator is away, so nothing is acknowledged, while the file is cut twice; the
    /// agent is then killed. Each generation it had started reading is known to the restarted
    /// agent (a checkpoint at 0) and read from its own copy.
    @Test func generationsCutDuringAnOutageSurviveACrash() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.reservePort()
        let agent = try node.startAgent()
        let audit = node.auditDir + "/audit.log"
        for (generation, copy) in [("g1", "-1"), ("g2", "-2")] {
            LineWriter.append(audit, (0..<100).map { LineWriter.auditEvent($0, tag: generation) })
            Thread.sleep(forTimeInterval: 1.5)  // read, and the checkpoints saved
            try copyTruncate(audit, to: audit + copy)
        }
        LineWriter.append(audit, (0..<100).map { LineWriter.auditEvent($0, tag: "g3") })
        Thread.sleep(forTimeInterval: 1.5)
        agent.kill()

        try node.startAggregator()
        let restarted = try node.startAgent()
        let all = node.waitUntil(30) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == 300 }
        #expect(all, "\(restarted.log)")
        #expect(node.number("SELECT count(DISTINCT audit_id) FROM kubernetes_audit_logs") == 300)
        #expect((restarted.metric("kubetrail_agent_truncated_files_continued_from_copy_total") ?? 0) == 2)
    }

    /// Checkpoints are pruned when their file's name is gone or now holds other content at the
    /// same inode — not while the file is as it was.
    @Test func aCheckpointOfACutFileIsPrunable() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("audit.log")
        LineWriter.append(path, (0..<10).map { LineWriter.auditEvent($0, tag: "one") })
        let fd = open(path, O_RDONLY)
        let key = try FileIdentity(fd: fd).description
        close(fd)
        let entry = Checkpoints.Entry(identity: key, path: path, offset: 100, marker: "-", updated: .now)
        #expect(!Agent.checkpointedFileIsGone(entry))
        LineWriter.append(path, (0..<10).map { LineWriter.auditEvent($0, tag: "more") })
        #expect(!Agent.checkpointedFileIsGone(entry))
        let h = try #require(FileHandle(forWritingAtPath: path))
        try h.truncate(atOffset: 0)
        try h.close()
        #expect(Agent.checkpointedFileIsGone(entry))
        LineWriter.append(path, (0..<10).map { LineWriter.auditEvent($0, tag: "two") })
        #expect(Agent.checkpointedFileIsGone(entry))
        try FileManager.default.removeItem(atPath: path)
        #expect(Agent.checkpointedFileIsGone(entry))
    }

    /// logrotate's copytruncate: copy, then cut the original in place.
    private func copyTruncate(_ path: String, to copy: String) throws {
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let h = try #require(FileHandle(forWritingAtPath: path))
        try h.truncate(atOffset: 0)
        try h.close()
    }
}
