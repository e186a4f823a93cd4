import Foundation
import KubetrailStore
import Testing
import TestSupport

/// The review found the database created 0644: every local user could read the audit trail.
@Suite struct DatabaseModeTests {
    @Test func theDatabaseAndItsJournalFilesAreTheOwnersOnly() throws {
        let dir = try TemporaryDirectory()
        let old = umask(0o022)
        defer { umask(old) }
        let store = try SQLiteStore(path: dir.path("kt.db"), durability: .full)
        try store.write { _ in }
        for name in ["kt.db", "kt.db-wal", "kt.db-shm"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: dir.path(name))[.posixPermissions] as? Int) ?? -1
            #expect(mode == 0o600, "\(name) is \(String(mode, radix: 8))")
        }
    }
}
