import Foundation
import Testing
import TestSupport
@testable import KubetrailAgent

@Suite struct InotifyTests {
    /// Collects events until `done` says enough or a few seconds pass.
    func collect(_ inotify: Inotify, until done: ([Inotify.Event]) -> Bool) throws -> [Inotify.Event] {
        var all: [Inotify.Event] = []
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, !done(all) { all += try inotify.read(timeout: 0.2) }
        return all
    }

    @Test func discoveryAppendsRotationAndDeletionAreSeen() throws {
        let dir = try TemporaryDirectory()
        let inotify = try Inotify()
        let dirWatch = try inotify.watchDirectory(dir.url.path)

        // Created with open(2), as a runtime does: IN_CREATE.
        let path = dir.path("0.log")
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        #expect(fd >= 0)
        var events = try collect(inotify) { $0.contains { $0.kind.contains(.created) && $0.name == "0.log" } }
        #expect(events.contains { $0.watch == dirWatch && $0.kind.contains(.created) && $0.name == "0.log" })

        let fileWatch = try inotify.watchFile(path)
        _ = "line one\n".withCString { write(fd, $0, 9) }
        events = try collect(inotify) { $0.contains { $0.watch == fileWatch && $0.kind.contains(.modified) } }
        #expect(events.contains { $0.watch == fileWatch && $0.kind.contains(.modified) })

        // kubelet-style rotation: rename, then a new file under the old name.
        #expect(rename(path, dir.path("0.log.20261127-100000")) == 0)
        events = try collect(inotify) { e in e.contains { $0.kind.contains(.movedTo) } }
        let from = try #require(events.first { $0.kind.contains(.movedFrom) && $0.name == "0.log" })
        let to = try #require(events.first { $0.kind.contains(.movedTo) && $0.name == "0.log.20261127-100000" })
        #expect(from.cookie == to.cookie && from.cookie != 0)
        // The renamed file's descriptor still works, and its watch follows the inode.
        _ = "after rotation\n".withCString { write(fd, $0, 15) }
        events = try collect(inotify) { $0.contains { $0.watch == fileWatch && $0.kind.contains(.modified) } }
        #expect(events.contains { $0.watch == fileWatch && $0.kind.contains(.modified) })
        close(fd)

        // An atomically written file (temp + rename) appears as IN_MOVED_TO, never IN_CREATE.
        try "x\n".write(toFile: dir.path("audit.log"), atomically: true, encoding: .utf8)
        events = try collect(inotify) { $0.contains { $0.kind.contains(.movedTo) && $0.name == "audit.log" } }
        #expect(events.contains { $0.kind.contains(.movedTo) && $0.name == "audit.log" })

        unlink(dir.path("0.log.20261127-100000"))
        events = try collect(inotify) { $0.contains { $0.kind.contains(.deleted) } }
        #expect(events.contains { $0.kind.contains(.deleted) && $0.name == "0.log.20261127-100000" })
    }

    @Test func watchingWhatIsNotThereIsAClearError() throws {
        let inotify = try Inotify()
        #expect(throws: AgentIOError.self) { try inotify.watchDirectory("/nonexistent/kubetrail") }
        do { _ = try inotify.watchDirectory("/nonexistent/kubetrail") } catch {
            #expect("\(error)".contains("/nonexistent/kubetrail"))
        }
        #expect(try inotify.read(timeout: 0.05).isEmpty)
    }
}
