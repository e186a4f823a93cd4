import Foundation
import Testing
import TestSupport
@testable import KubetrailAgent

/// The name the scan stat'ed is swapped before the open: for a FIFO, a blocking open(2) would
/// hang the tailer's only thread until some writer came along.
@Suite struct LogFileOpenerTests {
    /// Stats `path` as the scan does, then lets `swap` replace it, then opens it as the agent does.
    /// The open runs on its own thread; if it hangs, a writer is attached to free it.
    static func openAfterSwap(_ path: String, followLinks: Bool = true, swap: () throws -> Void) throws -> LogFileOpener.Outcome? {
        var st = stat()
        #expect(stat(path, &st) == 0)
        let expected = DeviceInode(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        try swap()
        let result = OpenResult()
        let thread = Thread { result.set(LogFileOpener.open(path, expected: expected, followLinks: followLinks)) }
        thread.start()
        if result.done.wait(timeout: .now() + 10) == .success { return result.value }
        let writer = open(path, O_WRONLY | O_NONBLOCK)  // unblocks a reader stuck in open(2)
        _ = result.done.wait(timeout: .now() + 10)
        if writer >= 0 { close(writer) }
        if case .opened(let fd)? = result.value { close(fd) }
        return nil
    }

    @Test func aFifoSwappedInAfterTheStatIsRefusedWithoutBlocking() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("audit.log", "{\"kind\":\"Event\"}\n")
        let outcome = try Self.openAfterSwap(path) {
            #expect(mkfifo(dir.path("fifo"), 0o600) == 0)
            #expect(rename(dir.path("fifo"), path) == 0)
        }
        #expect(outcome == .notRegular(mode: UInt32(S_IFIFO)), "open(2) blocked on the FIFO or opened it")
    }

    @Test func anotherRegularFileSwappedInIsNotTakenForTheOneStatted() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("0.log", "first\n")
        let outcome = try Self.openAfterSwap(path) {
            let other = try dir.write("other", "second\n")
            #expect(rename(other, path) == 0)
        }
        #expect(outcome == .replaced)
    }

    @Test func aDeviceBehindALinkIsRefusedAndContainerLogsDoNotFollowLinks() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("audit.log", "x\n")
        let device = try Self.openAfterSwap(path) {
            unlink(path)
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
        }
        #expect(device == .notRegular(mode: UInt32(S_IFCHR)))
        let container = try dir.write("1.log", "y\n")
        let followed = try Self.openAfterSwap(container, followLinks: false) {
            let target = try dir.write("planted", "z\n")
            unlink(container)
            try FileManager.default.createSymbolicLink(atPath: container, withDestinationPath: target)
        }
        #expect(followed == .failed(errno: ELOOP))
    }

    @Test func theFileThatWasStattedOpensForPlainReads() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("0.log", "line\n")
        let outcome = try Self.openAfterSwap(path) {}
        guard case .opened(let fd)? = outcome else { Issue.record("not opened: \(String(describing: outcome))"); return }
        defer { close(fd) }
        #expect(fcntl(fd, F_GETFL) & O_NONBLOCK == 0)
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(read(fd, &buffer, 16) == 5)
    }
}

/// The outcome of an open on another thread.
private final class OpenResult: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var outcome: LogFileOpener.Outcome?

    func set(_ value: LogFileOpener.Outcome) {
        lock.withLock { outcome = value }
        done.signal()
    }

    var value: LogFileOpener.Outcome? { lock.withLock { outcome } }
}
