import Foundation
import GRDB
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

/// Audit rows live in `kubetrail_audit_rows` behind the `kubernetes_audit_logs` view, keyed by
/// 64 bits of SHA-256(tp_id); a file in the layout before it is upgraded in place.
@Suite struct AuditStorageTests {
    static func fixtureRows() throws -> [AuditLogRow] {
        var rows: [AuditLogRow] = []
        let ctx = IngestContext(sourceType: .auditFile)
        for file in ["audit/audit2rbac_demo.log", "audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log"] {
            for line in try Fixtures.text(file).split(separator: "\n") {
                AuditDecoder.decode(Array(line.utf8), context: ctx) { if case .row(let r) = $0 { rows.append(r) } }
            }
        }
        return rows
    }

    /// A database as the version before this layout wrote it: rows in a `kubernetes_audit_logs`
    /// table with a UNIQUE tp_id and that version's indexes, each chained by rowid.
    static func oldLayout(at path: String, rows: [AuditLogRow]) throws {
        let pool = try DatabasePool(path: path)
        try Migrations.migrator.migrate(pool, upTo: "v5-audit-conflicts")
        try pool.write { db in
            for index in [
                ["stage_timestamp"], ["response_code", "stage_timestamp"],
                ["resource", "verb", "stage_timestamp", "user_name", "namespace", "name", "response_code"]
            ] {
                try db.execute(
                    sql: "CREATE INDEX \"kubernetes_audit_logs__\(index.joined(separator: "__"))\" ON kubernetes_audit_logs (\(index.joined(separator: ", ")))")
            }
            let cols = AuditLogRow.schema.columns.map { "\"\($0.name)\"" }.joined(separator: ", ")
            let chain = AuditChain(db)
            for row in rows {
                let values = row.values
                // Text bound by length, as that version's writer did: a NUL stays in the value.
                let params = values.map { v -> String in if case .text = v { return "CAST(? AS TEXT)" } else { return "?" } }.joined(separator: ", ")
                try db.execute(
                    sql: "INSERT INTO kubernetes_audit_logs (\(cols)) VALUES (\(params)) ON CONFLICT(tp_id) DO NOTHING",
                    arguments: StatementArguments(
                        values.map { v -> (any DatabaseValueConvertible)? in
                            switch v {
                            case .null: return nil
                            case .int(let i): return i
                            case .bool(let b): return b ? 1 : 0
                            case .text(let s): return Data(s.utf8)
                            }
                        }))
                guard db.changesCount > 0 else { continue }
                try chain.append(
                    rowHash: RowHash.of(values), rowid: db.lastInsertedRowID, id: row.common.id,
                    timestamp: row.common.timestamp.iso8601, cluster: row.common.index)
            }
        }
        try pool.close()
    }

    static func snapshot(_ store: SQLiteStore) throws -> [[String]] {
        let c = Collect()
        try store.query("SELECT * FROM kubernetes_audit_logs ORDER BY tp_id", into: c)
        return c.rows
    }

    /// Every chain entry still finds its row, with the hash it was chained with, and the chain
    /// hashes follow from one another: what `kubetrail verify` checks of the chain.
    static func chainHolds(_ store: SQLiteStore, entries: Int) throws {
        var previous = ChainHash.genesis
        var seen = 0
        for cluster in try store.chainClusters() {
            previous = ChainHash.genesis
            try store.walkAuditChain(cluster: cluster, after: 0) { entry, values in
                let values = try #require(values, "row \(entry.id) is gone")
                #expect(RowHash.of(values) == entry.rowHash, "row \(entry.id) changed")
                let next = ChainHash.next(previous, cluster: entry.cluster, id: entry.id, timestamp: entry.timestamp, rowHash: entry.rowHash)
                #expect(next == entry.chainHash, "seq \(entry.seq)")
                previous = entry.chainHash
                seen += 1
            }
        }
        #expect(seen == entries)
    }

    @Test func aDatabaseInTheOldLayoutIsUpgradedInPlace() throws {
        let dir = try TemporaryDirectory()
        let rows = try Self.fixtureRows()
        let path = dir.path("old.db")
        try Self.oldLayout(at: path, rows: rows)
        // Opened read-only (a backup, say), an old file is never upgraded and still reads and verifies.
        let old = try SQLiteStore(readingFrom: path)
        let before = try Self.snapshot(old)
        #expect(before.count > 100)
        try Self.chainHolds(old, entries: before.count)

        let store = try SQLiteStore(path: path)
        #expect(try Self.snapshot(store) == before)
        let (kind, legacy, moved) = try store.pool.read { db in
            (
                try AuditStorageUpgrade.kind(db, "kubernetes_audit_logs"), try AuditStorageUpgrade.kind(db, AuditStorageUpgrade.legacy),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM kubetrail_audit_rows")
            )
        }
        #expect(kind == "view" && legacy == nil && moved == before.count)
        try Self.chainHolds(store, entries: before.count)
        // Nothing comes in twice, and what is new is chained after what was.
        let again = try store.write { w in try rows.map { try w.insert($0) } }
        #expect(again.allSatisfy { $0 == .duplicate })
        #expect(try store.write { try $0.insert(auditRow("after-the-upgrade")) } == .inserted)
        try Self.chainHolds(store, entries: before.count + 1)

        // The real verify agrees.
        let verify = try Subprocess.kubetrail(["verify", "--db", path, "--skip-signatures"])
        #expect(verify.status == 0 && verify.stdout.contains("\(before.count + 1) chain entries checked"), "\(verify.stdout)\(verify.stderr)")
    }

    @Test func anInterruptedUpgradeCarriesOnWhereItStopped() throws {
        let dir = try TemporaryDirectory()
        let rows = try Self.fixtureRows()
        let path = dir.path("old.db")
        try Self.oldLayout(at: path, rows: rows)
        let before = try Self.snapshot(SQLiteStore(readingFrom: path))

        // Two chunks of ten, then the process "dies".
        let pool = try DatabasePool(path: path)
        #expect(try AuditStorageUpgrade.run(pool, rowsPerChunk: 10, maxChunks: 2) == 20)
        let (legacy, moved) = try pool.read { db in
            (try AuditStorageUpgrade.kind(db, AuditStorageUpgrade.legacy), try Int.fetchOne(db, sql: "SELECT count(*) FROM kubetrail_audit_rows"))
        }
        #expect(legacy == "table" && moved == 20)
        try pool.close()
        do {
            _ = try SQLiteStore(readingFrom: path)
            Issue.record("a half-upgraded file opened read-only")
        } catch let error as StoreError {
            #expect("\(error)".contains("part way through the upgrade"), "\(error)")
        }

        let store = try SQLiteStore(path: path)
        #expect(try Self.snapshot(store) == before)
        try Self.chainHolds(store, entries: before.count)
    }

    /// An auditID is the sender's text: one holding a NUL is keyed, found and compared whole,
    /// before and after an upgrade, so a re-sent copy is a duplicate, not a second row or a
    /// conflict. A row with a rowid below 1 (only ever put there by hand) is moved too.
    @Test func oddIdsAndRowidsSurviveTheUpgrade() throws {
        let dir = try TemporaryDirectory()
        let nul = auditRow("a\\u0000b")
        #expect(nul.common.id.utf8.contains(0))
        let path = dir.path("old.db")
        try Self.oldLayout(at: path, rows: [nul, auditRow("plain")])
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(
                sql:
                    "INSERT INTO kubernetes_audit_logs (rowid, tp_id, tp_timestamp, audit_id, stage, stage_timestamp) SELECT -5, 'by-hand', tp_timestamp, 'h', stage, stage_timestamp FROM kubernetes_audit_logs LIMIT 1"
            )
        }
        try queue.close()

        let store = try SQLiteStore(path: path)
        #expect(try store.write { try $0.insert(nul) } == .duplicate)
        #expect(try store.write { try $0.insert(auditRow("plain")) } == .duplicate)
        let c = Collect()
        try store.query("SELECT count(*) FROM kubernetes_audit_logs", into: c)
        #expect(c.rows == [["3"]])
        #expect(try store.auditConflicts().total == 0)

        // And in a new file, a second copy of it is a duplicate too.
        let fresh = try SQLiteStore(path: dir.path("new.db"))
        #expect(try fresh.write { try $0.insert(nul) } == .inserted)
        #expect(try fresh.write { try $0.insert(nul) } == .duplicate)
        #expect(try fresh.auditConflicts().total == 0)
    }

    /// A view from an older contract (fewer columns) is redrawn on open; an up-to-date one is
    /// left alone (an open that rewrites the schema needs disk the full-disk case lacks).
    @Test func theViewFollowsTheContract() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("s.db")
        _ = try SQLiteStore(path: path).write { try $0.insert(auditRow("a")) }
        let queue = try DatabaseQueue(path: path)
        // A view dropped and created again comes back as a new sqlite_master row.
        let entry = "SELECT rowid FROM sqlite_master WHERE name = 'kubernetes_audit_logs'"
        let before = try queue.read { db in try Int.fetchOne(db, sql: entry) }
        _ = try SQLiteStore(path: path)
        #expect(try queue.read { db in try Int.fetchOne(db, sql: entry) } == before)
        try queue.write { db in
            try db.execute(sql: "DROP VIEW kubernetes_audit_logs")
            try db.execute(sql: "CREATE VIEW kubernetes_audit_logs AS SELECT tp_id, verb FROM kubetrail_audit_rows")
        }
        try queue.close()
        let store = try SQLiteStore(path: path)
        let c = Collect()
        try store.query("SELECT * FROM kubernetes_audit_logs", into: c)
        #expect(c.columns == AuditLogRow.schema.columns.map(\.name) && c.rows.count == 1)
    }

    /// Two ids that share a key are two rows: the key only finds candidates.
    @Test func idsSharingAKeyAreBothStored() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        let a = auditRow("a"), b = auditRow("b")
        #expect(try store.write { try $0.insert(a) } == .inserted)
        // Give a's row b's key, as a collision of the two would.
        try store.pool.write { db in
            try db.execute(sql: "UPDATE kubetrail_audit_rows SET tp_key = ? WHERE tp_id = ?", arguments: [AuditStorage.key(b.common.id), a.common.id])
        }
        #expect(try store.write { try $0.insert(b) } == .inserted)
        #expect(try store.write { try $0.insert(b) } == .duplicate)
        let c = Collect()
        try store.query("SELECT tp_id FROM kubernetes_audit_logs ORDER BY tp_id", into: c)
        #expect(c.rows == [["a:ResponseComplete"], ["b:ResponseComplete"]])
    }

    @Test func theKeyIsStableAndTheViewShowsOnlyTheContract() throws {
        // The first 8 bytes of SHA-256("a:ResponseComplete"), big-endian: stored keys must never change.
        #expect(AuditStorage.key("a:ResponseComplete") == -6470524853751819919)
        #expect(AuditStorage.key("x") == AuditStorage.key("x") && AuditStorage.key("x") != AuditStorage.key("y"))
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        _ = try store.write { try $0.insert(auditRow("a")) }
        let c = Collect()
        try store.query("SELECT * FROM kubernetes_audit_logs", into: c)
        #expect(c.columns == AuditLogRow.schema.columns.map(\.name))
    }
}
