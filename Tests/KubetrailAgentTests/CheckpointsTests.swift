import Foundation
import Testing
import TestSupport
@testable import KubetrailAgent
@testable import KubetrailCore

/// A real file, opened as the agent would.
final class OpenFile {
    let path: String
    let fd: Int32
    init(_ path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw AgentIOError(operation: "open", path: path, errno: errno) }
    }
    deinit { close(fd) }
    var identity: FileIdentity { get throws { try FileIdentity(fd: fd) } }
}

@Suite struct CheckpointsTests {
    @Test func offsetsSurviveARestartAndOnlyMoveForward() throws {
        let dir = try TemporaryDirectory()
        let log = try dir.write("audit.log", String(repeating: "{\"line\":1}\n", count: 200))
        let file = try OpenFile(log)
        let id = try file.identity
        #expect(id.fingerprint != nil)  // 2,200 bytes: long enough to fingerprint
        let store = Checkpoints(path: dir.path("checkpoints"))
        store.advance(id, path: log, to: 1100, fd: file.fd)
        store.advance(id, path: log, to: 550, fd: file.fd)  // an older ack arriving late changes nothing
        try store.save()
        let reloaded = Checkpoints(path: dir.path("checkpoints"))
        #expect(reloaded.loadProblems.isEmpty)
        #expect(reloaded.entry(for: id)?.offset == 1100)
        #expect(reloaded.resumeOffset(for: id, fd: file.fd) == (1100, false))
    }

    @Test func truncationOrAReplacedFileUnderTheSameInodeIsNoticed() throws {
        let dir = try TemporaryDirectory()
        let log = try dir.write("0.log", String(repeating: "2026-01-01T00:00:00Z stdout F hello\n", count: 50))
        let file = try OpenFile(log)
        let id = try file.identity
        let store = Checkpoints(path: dir.path("cp"))
        store.advance(id, path: log, to: 36 * 40, fd: file.fd)
        // copytruncate: same inode, shorter.
        let h = try #require(FileHandle(forWritingAtPath: log))
        try h.truncate(atOffset: 0)
        try h.write(contentsOf: Data(String(repeating: "2026-01-01T00:00:01Z stdout F other\n", count: 45).utf8))
        try h.close()
        #expect(store.resumeOffset(for: id, fd: file.fd).truncated)
        #expect(store.resumeOffset(for: id, fd: file.fd).offset == 0)
    }

    @Test func tornOrForeignFilesAreReportedNeverFatal() throws {
        let dir = try TemporaryDirectory()
        let log = try dir.write("a.log", String(repeating: "x\n", count: 1000))
        let file = try OpenFile(log)
        let id = try file.identity
        let path = dir.path("cp")
        let store = Checkpoints(path: path)
        store.advance(id, path: log, to: 1000, fd: file.fd)
        store.advance(FileIdentity(device: 1, inode: 2, fingerprint: nil), path: "/other\tname", to: 0, fd: file.fd)
        try store.save()
        // A torn write of the second entry (as after a crash mid-write without rename).
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text.removeLast(5)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let torn = Checkpoints(path: path)
        #expect(torn.loadProblems.count == 1)
        #expect(torn.entry(for: id)?.offset == 1000 || torn.entries.count == 1)
        // Garbage, and a leftover temp file, change nothing dangerous.
        try dir.write("cp", "\u{00}\u{FF}garbage\n")
        try dir.write("cp.tmp-123", "kubetrail-checkpoints v1\nhalf")
        let garbage = Checkpoints(path: path)
        #expect(garbage.entries.isEmpty)
        #expect(garbage.loadProblems.first?.contains("not a kubetrail checkpoint file") == true)
        // Missing: a first start, not a problem.
        #expect(Checkpoints(path: dir.path("absent")).loadProblems.isEmpty)
    }

    @Test func saveIsAtomicAndCoalesced() throws {
        let dir = try TemporaryDirectory()
        let log = try dir.write("a.log", "line\n")
        let file = try OpenFile(log)
        let store = Checkpoints(path: dir.path("cp"))
        let t0 = Timestamp(microseconds: 1_000_000_000)
        store.advance(try file.identity, path: log, to: 5, fd: file.fd, now: t0)
        try store.saveIfDue(now: t0)
        store.advance(FileIdentity(device: 9, inode: 9, fingerprint: nil), path: "/b", to: 0, fd: file.fd, now: t0)
        try store.saveIfDue(now: t0.adding(microseconds: 200_000))  // too soon: not written
        #expect(Checkpoints(path: dir.path("cp")).entries.count == 1)
        try store.saveIfDue(now: t0.adding(microseconds: 1_100_000))
        #expect(Checkpoints(path: dir.path("cp")).entries.count == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.contains(".tmp-") }.isEmpty)
        // An unwritable directory is an error to report, not a crash.
        let bad = Checkpoints(path: "/proc/kubetrail-cannot-write/cp")
        bad.advance(try file.identity, path: log, to: 5, fd: file.fd)
        #expect(throws: AgentIOError.self) { try bad.save() }
    }

    @Test func identityTellsAReusedInodeFromTheFileThatHadIt() throws {
        let a = FileIdentity(device: 1, inode: 7, fingerprint: "aaa")
        #expect(a.isSameFile(as: FileIdentity(device: 1, inode: 7, fingerprint: "aaa")))
        #expect(a.isSameFile(as: FileIdentity(device: 1, inode: 7, fingerprint: nil)))  // still short then
        #expect(!a.isSameFile(as: FileIdentity(device: 1, inode: 7, fingerprint: "bbb")))
        #expect(!a.isSameFile(as: FileIdentity(device: 2, inode: 7, fingerprint: "aaa")))
    }
}
