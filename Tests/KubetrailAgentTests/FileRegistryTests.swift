import Foundation
import Testing
import TestSupport
@testable import KubetrailAgent

/// The agent's files and their three indexes change together, through the registry only.
@Suite struct FileRegistryTests {
    func file(_ dir: TemporaryDirectory, _ name: String, inode: UInt64, watch: Int32? = nil) throws -> TailedFile {
        let path = try dir.write(name, "2026-12-06T00:00:00Z stdout F line\n")
        let f = TailedFile(
            kind: .containerLogLine, fd: open(path, O_RDONLY), deviceInode: DeviceInode(device: 1, inode: inode), path: path, maxRecordBytes: 1024)
        f.watch = watch
        return f
    }

    @Test func everyIndexFollowsTheFilesComingAndGoing() throws {
        let dir = try TemporaryDirectory()
        let files = FileRegistry()
        let a = try file(dir, "a.log", inode: 10, watch: 1), b = try file(dir, "b.log", inode: 11, watch: 2)
        files.add(a)
        files.add(b)
        #expect(files.count == 2 && files.file(at: DeviceInode(device: 1, inode: 10)) === a && files.file(watch: 2) === b)
        // A key answers for one file: the first to claim it keeps it (one stream found twice).
        let k = try #require(a.establishIdentity())
        #expect(files.claim(k, for: a) && !files.claim(k, for: b) && files.claim(k, for: a))
        #expect(files.file(key: k) === a && files.keys == [k])
        // The kernel dropping a watch leaves the file, now polled.
        files.watchEnded(1)
        #expect(files.file(watch: 1) == nil && a.watch == nil && files.file(at: DeviceInode(device: 1, inode: 10)) === a)
        // Spooled: the inode may be another file's now; the file stays.
        #expect(files.unwatch(b) == 2 && b.watch == nil && files.file(watch: 2) == nil)
        files.forgetInode(of: b)
        #expect(files.file(at: DeviceInode(device: 1, inode: 11)) == nil && files.contains { $0 === b })
        // Read again from 0 under a new identity: the old key is let go of.
        files.releaseKey(of: a)
        #expect(files.file(key: k) == nil)
        #expect(files.claim(k, for: a))
        // Removing a file drops it from every index it was in.
        files.remove(a)
        #expect(files.count == 1 && files.file(at: DeviceInode(device: 1, inode: 10)) == nil && files.file(key: k) == nil)
    }

    @Test func aFileAddedWithAnIdentityIsFoundByIt() throws {
        let dir = try TemporaryDirectory()
        let files = FileRegistry()
        let f = try file(dir, "c.log", inode: 12)
        let id = try #require(f.establishIdentity())
        files.add(f)
        #expect(files.file(key: id) === f)
        files.remove(f)
        #expect(files.file(key: id) == nil && files.isEmpty && files.keys.isEmpty)
    }
}

/// Each event the tailer reports moves its counter, once, in the one place that also logs it.
@Suite struct AgentEventsTests {
    @Test func eventsCountWhatTheySay() {
        AgentLog.quiet = true
        defer { AgentLog.quiet = false }
        let metrics = AgentMetrics()
        let events = AgentEvents(metrics: metrics)
        events.truncated("/x.log", reason: "size", readBefore: 10, copy: nil, writtenAfterRead: true)
        events.changedSinceCheckpoint("/x.log")
        events.spoolFull("/x.log", bytes: 500, limit: 100, atShutdown: false)
        #expect(metrics.value(.truncations) == 2 && metrics.value(.lostBytes) == 0)
        events.spoolFull("/x.log", bytes: 500, limit: 100, atShutdown: true)
        events.spoolFailed("/y.log", CocoaError(.fileWriteOutOfSpace), lost: 7)
        #expect(metrics.value(.lostBytes) == 507)
        for _ in 0..<3 { events.checkpointsNotSaved(CocoaError(.fileWriteOutOfSpace)) }
        #expect(metrics.value(.checkpointErrors) == 3)  // said once a minute, counted every time
        events.followingCopy(of: "/a", copy: "/a.1", from: 0, to: 9)
        #expect(metrics.value(.filesOpened) == 1 && metrics.value(.copiesFollowed) == 1)
    }
}
