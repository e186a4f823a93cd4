import Foundation
import Testing
import TestSupport

/// `import` of a directory holding, beside a real audit log, a FIFO and a link to /dev/zero
/// with log names: only the regular file is read, the others are named and skipped. Named
/// explicitly, such a file is an error. Runs are under a kill timer: the old importer blocked on
/// the FIFO's open, and /dev/zero never ends.
@Suite struct ImportSpecialFileTests {
    static let fixture = Fixtures.url("audit/audit2rbac_demo.log").path

    @Test func aDirectoryWalkImportsTheRegularFileAndNamesWhatItSkips() throws {
        let dir = try TemporaryDirectory()
        let logs = dir.path("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: logs + "/good.log")
        guard mkfifo(logs + "/stuck.log", 0o600) == 0 else { throw ServerError("mkfifo: \(errno)") }
        try FileManager.default.createSymbolicLink(atPath: logs + "/zero.log", withDestinationPath: "/dev/zero")

        let r = try kubetrailOrKilled(["import", "audit", logs, "--db", dir.path("k.db"), "--no-progress"])
        #expect(r.status != stoppedByTimeout, "import hung on a FIFO or /dev/zero")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("skipped \(logs)/stuck.log: is a FIFO, not a regular file"), "\(r.stderr)")
        #expect(r.stderr.contains("skipped \(logs)/zero.log: is a character device, not a regular file"), "\(r.stderr)")
        #expect(!r.stderr.contains("good.log"), "\(r.stderr)")

        let reference = try Subprocess.kubetrail(["import", "audit", Self.fixture, "--db", dir.path("reference.db")])
        #expect(reference.status == 0, "\(reference.stderr)")
        let expected = try count(dir.path("reference.db"), "SELECT COUNT(*) FROM kubernetes_audit_logs")
        #expect(expected > 0)
        #expect(try count(dir.path("k.db"), "SELECT COUNT(*) FROM kubernetes_audit_logs") == expected)
    }

    @Test(arguments: ["fifo", "/dev/zero"])
    func aNamedFileThatIsNotRegularIsAnError(name: String) throws {
        let dir = try TemporaryDirectory()
        var path = name
        if name == "fifo" {
            path = dir.path("audit.log")
            guard mkfifo(path, 0o600) == 0 else { throw ServerError("mkfifo: \(errno)") }
        }
        let r = try kubetrailOrKilled(["import", "audit", path, "--db", dir.path("k.db"), "--no-progress"])
        #expect(r.status != stoppedByTimeout, "import hung on \(path)")
        #expect(r.status == 1)
        let kind = name == "fifo" ? "a FIFO" : "a character device"
        #expect(r.stderr.contains("\(path): is \(kind), not a regular file (use - to import from standard input)"), "\(r.stderr)")
    }
}
