import Foundation
import KubetrailIntegrity
@testable import KubetrailStore
import Testing
import TestSupport

/// A transaction whose rows were all written but whose COMMIT failed (a full disk in the e2e
/// run) must leave the writer's idea of its chain head where the store is: the head it had
/// computed was never stored, and taking it as written refused every audit row after it as
/// "changed behind the writer's back".
@Suite struct FailedCommitTests {
    @Test func aFailedCommitPublishesNoHeadAndLaterWritesGoOn() throws {
        let lab = try ChainVerifierTests.Lab()
        try ChainHeadTests.appendOne(lab.store)
        let before = try #require(lab.store.writtenHeads.head("default"))

        let rows = ChainHeadTests.auditRows()
        #expect(throws: (any Error).self) {
            try lab.store.write { w in
                for r in rows { _ = try w.insert(r) }
                // A deferred foreign key is checked at COMMIT: the statement that fails is the commit.
                try (w as! SQLiteTransaction).db.execute(
                    sql: """
                        CREATE TEMP TABLE IF NOT EXISTS fk_parent(id INTEGER PRIMARY KEY);
                        CREATE TEMP TABLE IF NOT EXISTS fk_child(parent INTEGER REFERENCES fk_parent(id) DEFERRABLE INITIALLY DEFERRED);
                        INSERT INTO fk_child VALUES (42);
                        """)
            }
        }
        #expect(lab.store.writtenHeads.head("default") == before)
        #expect(try lab.store.read { try $0.storedChainHead(cluster: "default") } == before)

        // A transaction that adds no chain entry, then audit rows again: neither is refused.
        _ = try lab.store.write { w in try w.recordBatch(id: UUID().uuidString, node: "n", records: 0) }
        #expect(lab.store.writtenHeads.head("default") == before)
        for _ in 0..<3 { try ChainHeadTests.appendOne(lab.store) }
        let after = try lab.store.read { try $0.storedChainHead(cluster: "default") }
        #expect(after != nil && after != before)
        #expect(lab.store.writtenHeads.head("default") == after)
        try lab.digest()
        #expect(try lab.verify().findings.isEmpty)
    }

    /// The way it happened: a full disk fails the COMMIT (the WAL cannot grow), SQLite rolls the
    /// transaction back itself, and the next commit — one adding no chain entry — must not
    /// publish the failed one's head. Needs a tmpfs, so root (as CI runs); skipped otherwise.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func aCommitRefusedByAFullDiskPublishesNoHead() throws {
        let disk = try SmallDisk(megabytes: 16)
        defer { disk.unmount() }
        let db = disk.path + "/kt.db"
        let store = try SQLiteStore(path: db)
        for _ in 0..<3 { try ChainHeadTests.appendOne(store) }
        let before = try #require(store.writtenHeads.head("default"))

        // An empty WAL, then a disk with no room left: the next commit cannot append its frames.
        let truncated = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/python3"),
            [
                "-c",
                "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchone())", db
            ])
        #expect(truncated.stdout.hasPrefix("(0,"), "\(truncated.stdout)")
        try disk.fill()

        let rows = ChainHeadTests.auditRows()
        #expect(throws: (any Error).self) { try store.write { w in for r in rows { _ = try w.insert(r) } } }
        #expect(store.writtenHeads.head("default") == before)

        try disk.free()
        _ = try store.write { w in try w.recordBatch(id: UUID().uuidString, node: "n", records: 0) }
        #expect(store.writtenHeads.head("default") == before)
        try ChainHeadTests.appendOne(store)
        let after = try store.read { try $0.storedChainHead(cluster: "default") }
        #expect(after != before)
        #expect(store.writtenHeads.head("default") == after)
    }
}
