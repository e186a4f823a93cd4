import Foundation
import GRDB
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

/// Repeated audit values are kept once, in dictionaries, behind the same view; a store written by
/// the previous version (its rows in a plain `kubetrail_audit_rows`) is upgraded in place.
@Suite struct AuditLayoutTests {
    /// Unpacks `Tests/StoreFiles/audit-45759b1.db.gz`: 933 fixture audit rows and their chain,
    /// exactly as the release build of 45759b1 wrote them.
    static func previousVersionStore(in dir: TemporaryDirectory) throws -> String {
        let packed = Fixtures.repositoryRoot.appendingPathComponent("Tests/StoreFiles/audit-45759b1.db.gz").path
        let path = dir.path("previous.db")
        let r = try Subprocess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "gzip -dc \"$0\" > \"$1\"", packed, path])
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    static func physicalColumns(_ path: String) throws -> Set<String> {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return Set(try queue.read { db in try db.columns(in: "kubetrail_audit_rows").map(\.name) })
    }

    /// Every dictionary value's `refs` is the number of rows holding it, and none is held by none.
    static func refsHold(_ store: SQLiteStore) throws {
        try store.pool.read { db in
            for type in ValueDictionary.types {
                let t = ValueDictionary.table(for: type)
                let refs = AuditLayout.columns.filter { AuditLayout.internedType[AuditLayout.columns.firstIndex(of: $0)!] == type }
                    .map { "(SELECT count(*) FROM kubetrail_audit_rows WHERE \(AuditLayout.physicalName($0.name)) = d.id)" }.joined(separator: " + ")
                let wrong = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(t) d WHERE refs != \(refs) OR refs < 1")
                #expect(wrong == 0, "\(t)")
            }
        }
    }

    @Test func aStoreWrittenByThePreviousVersionIsUpgradedInPlace() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.previousVersionStore(in: dir)
        #expect(try !Self.physicalColumns(path).contains(AuditLayout.marker))
        // Read-only, it is not upgraded and still reads and verifies.
        let old = try SQLiteStore(readingFrom: path)
        let before = try AuditStorageTests.snapshot(old)
        #expect(before.count == 933)
        try AuditStorageTests.chainHolds(old, entries: 933)

        let store = try SQLiteStore(path: path)
        #expect(try AuditStorageTests.snapshot(store) == before)
        try AuditStorageTests.chainHolds(store, entries: 933)
        let physical = try Self.physicalColumns(path)
        #expect(physical.contains("annotations_ref") && !physical.contains("annotations"))
        let (legacy, indexes, distinct) = try store.pool.read { db in
            (
                try AuditStorageUpgrade.kind(db, AuditStorageUpgrade.legacy), try db.indexes(on: "kubetrail_audit_rows").map(\.name),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM kubetrail_values_list")
            )
        }
        #expect(legacy == nil)
        #expect(Set(indexes) == Set(AuditLogRow.schema.indexNames + [AuditStorage.keyIndex]))
        // tp_usernames and user_groups of 933 rows: a few dozen values.
        #expect(distinct! > 10 && distinct! < 200)
        try Self.refsHold(store)

        // What was stored comes back as a duplicate; something new is chained after it.
        let again = try store.write { w in try AuditStorageTests.fixtureRows().map { try w.insert($0) } }
        #expect(!again.contains(.inserted))
        #expect(try store.write { try $0.insert(auditRow("after-the-upgrade")) } == .inserted)
        try AuditStorageTests.chainHolds(store, entries: 934)
        try Self.refsHold(store)
        let verify = try Subprocess.kubetrail(["verify", "--db", path, "--skip-signatures"])
        #expect(verify.stdout.contains("cluster default: 934 chain entries checked") && verify.stdout.contains("OK"), "\(verify.stdout)\(verify.stderr)")
    }

    @Test func anInterruptedUpgradeOfThePreviousVersionCarriesOn() throws {
        let dir = try TemporaryDirectory()
        let path = try Self.previousVersionStore(in: dir)
        let before = try AuditStorageTests.snapshot(SQLiteStore(readingFrom: path))
        let pool = try DatabasePool(path: path)
        #expect(try AuditStorageUpgrade.run(pool, rowsPerChunk: 100, maxChunks: 3) == 300)
        try pool.close()
        let store = try SQLiteStore(path: path)
        #expect(try AuditStorageTests.snapshot(store) == before)
        try AuditStorageTests.chainHolds(store, entries: 933)
        try Self.refsHold(store)
    }

    /// The version before the previous one moved rows out of a `kubernetes_audit_logs` table into
    /// a plain `kubetrail_audit_rows`; stopped half way, its legacy table still has every row.
    @Test func anUpgradeThePreviousVersionLeftHalfDoneIsFinished() throws {
        let dir = try TemporaryDirectory()
        let rows = try AuditStorageTests.fixtureRows()
        let path = dir.path("half.db")
        try AuditStorageTests.oldLayout(at: path, rows: rows)
        let before = try AuditStorageTests.snapshot(SQLiteStore(readingFrom: path))
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for index in try db.indexes(on: "kubernetes_audit_logs") where index.name.hasPrefix("kubernetes_audit_logs__") {
                try db.execute(sql: "DROP INDEX \"\(index.name)\"")
            }
            try db.execute(sql: "ALTER TABLE kubernetes_audit_logs RENAME TO kubetrail_audit_legacy")
            let cols = AuditLogRow.schema.columns.map { "\"\($0.name)\"" }
            try db.execute(sql: "CREATE TABLE kubetrail_audit_rows (\(cols.map { $0 + " TEXT" }.joined(separator: ", ")), tp_key INTEGER NOT NULL)")
            try db.execute(
                sql:
                    "INSERT INTO kubetrail_audit_rows (rowid, \(cols.joined(separator: ", ")), tp_key) SELECT rowid, \(cols.joined(separator: ", ")), 0 FROM kubetrail_audit_legacy ORDER BY rowid LIMIT 10"
            )
        }
        try queue.close()
        let store = try SQLiteStore(path: path)
        #expect(try AuditStorageTests.snapshot(store) == before)
        try AuditStorageTests.chainHolds(store, entries: before.count)
    }

    /// The view's columns keep the contract's declared types, which output formats read to print
    /// lists and JSON as JSON: a view column that is an expression would have none.
    @Test func theViewKeepsTheContractsTypes() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        _ = try store.write { w in try AuditStorageTests.fixtureRows().map { try w.insert($0) } }
        final class Types: QuerySink {
            var types: [String?] = []
            func begin(columns: [QueryColumn]) { types = columns.map(\.declaredType) }
            func row(_ values: [QueryValue]) {}
            func end() {}
        }
        let t = Types()
        try store.query("SELECT * FROM kubernetes_audit_logs LIMIT 1", into: t)
        #expect(t.types == AuditLogRow.schema.columns.map { $0.type.sqliteDeclaration })
        var json = ""
        try store.query(
            "SELECT source_ips, annotations FROM kubernetes_audit_logs WHERE source_ips IS NOT NULL AND annotations IS NOT NULL LIMIT 1",
            into: OutputFormat.json.sink(writingTo: TextOutput(chunkHandler: { json += String(decoding: $0, as: UTF8.self) })))
        #expect(json.contains(#""source_ips":["#) && json.contains(#""annotations":{"#), "\(json)")
    }

    /// A value is stored once however many rows repeat it, and a grouping over plain columns
    /// never reads a dictionary.
    @Test func repeatedValuesAreStoredOnce() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        let rows = try AuditStorageTests.fixtureRows()
        _ = try store.write { w in try rows.map { try w.insert($0) } }
        let (stored, distinct, refs) = try store.pool.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM kubetrail_values_list WHERE value IN (SELECT user_groups FROM kubernetes_audit_logs)"),
                try Int.fetchOne(db, sql: "SELECT count(DISTINCT user_groups) FROM kubernetes_audit_logs"),
                try String.fetchOne(
                    db, sql: "SELECT group_concat(DISTINCT typeof(user_groups_ref)) FROM kubetrail_audit_rows WHERE user_groups_ref IS NOT NULL")
            )
        }
        #expect(stored == distinct && distinct! > 1 && distinct! < rows.count / 5, "\(String(describing: distinct)) of \(rows.count)")
        #expect(refs == "integer")
        try Self.refsHold(store)
        let plan = try store.explain("SELECT user_name, count(*) AS n FROM kubernetes_audit_logs GROUP BY user_name ORDER BY n DESC LIMIT 10", now: .now)
        #expect(!plan.joined().contains("kubetrail_values"), "\(plan)")
    }

    /// An id made by a transaction that rolled back names nothing: the writer must not reuse it.
    @Test func aValueAddedByARolledBackTransactionIsAddedAgain() throws {
        struct Abort: Error {}
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        var row = auditRow("first")
        row.userAgent = "kubectl/v1.32.0 (linux/amd64) once-only"
        #expect(throws: Abort.self) {
            try store.write { w in
                _ = try w.insert(row)
                throw Abort()
            }
        }
        #expect(try store.write { try $0.insert(row) } == .inserted)
        let c = Collect()
        try store.query("SELECT user_agent FROM kubernetes_audit_logs", into: c)
        #expect(c.rows == [["kubectl/v1.32.0 (linux/amd64) once-only"]])
        try AuditStorageTests.chainHolds(store, entries: 1)
    }

    /// Interned values are compared and read back by their bytes: one holding a NUL is one
    /// value, not two, and hashes as it was written.
    @Test func aValueWithANulIsKeptWhole() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        var a = auditRow("a"), b = auditRow("b"), c = auditRow("c")
        a.userAgent = "agent\u{0}one"
        b.userAgent = "agent\u{0}one"
        c.userAgent = "agent\u{0}two"
        _ = try store.write { w in try [a, b, c].map { try w.insert($0) } }
        let count = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM kubetrail_values_text WHERE value LIKE 'agent%'") }
        #expect(count == 2)
        try AuditStorageTests.chainHolds(store, entries: 3)
    }

    /// Two spellings of one text (é composed, and e with a combining accent) are equal as Swift
    /// strings but not as bytes: each keeps its own value, in one transaction and across two.
    @Test func valuesThatOnlyLookAlikeStayApart() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        var a = auditRow("a"), b = auditRow("b"), c = auditRow("c"), d = auditRow("d")
        a.userAgent = "caf\u{E9}"
        b.userAgent = "cafe\u{301}"
        #expect(a.userAgent == b.userAgent && Array(a.userAgent!.utf8) != Array(b.userAgent!.utf8))
        c.userAgent = b.userAgent
        d.userAgent = a.userAgent
        _ = try store.write { w in try [a, b].map { try w.insert($0) } }
        _ = try store.write { try $0.insert(c) }
        _ = try store.write { try $0.insert(d) }
        let bytes = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT tp_id, hex(user_agent) FROM kubernetes_audit_logs ORDER BY tp_id").map { "\($0[0] as String) \($0[1] as String)" }
        }
        #expect(
            bytes == ["a:ResponseComplete 636166C3A9", "b:ResponseComplete 63616665CC81", "c:ResponseComplete 63616665CC81", "d:ResponseComplete 636166C3A9"])
        try AuditStorageTests.chainHolds(store, entries: 4)
        try Self.refsHold(store)
    }

    /// Retention takes a value with the last row holding it, so nothing outlives its rows; a
    /// writer that had the value's id cached adds the value again instead of pointing at nothing.
    @Test func retentionRemovesValuesWithTheirLastRow() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        var old = auditRow("old", at: "2026-01-01T00:00:00Z"), kept = auditRow("kept", at: "2026-06-01T00:00:00Z")
        old.userAgent = "only-in-old-rows"
        kept.userAgent = "shared"
        var oldShared = auditRow("old-shared", at: "2026-01-01T00:00:00Z")
        oldShared.userAgent = "shared"
        _ = try store.write { w in try [old, oldShared, kept].map { try w.insert($0) } }
        func agents() throws -> [String] {
            try store.pool.read { db in
                try String.fetchAll(
                    db, sql: "SELECT value FROM kubetrail_values_text WHERE value NOT LIKE '%kubernetes_audit_logs%' AND value NOT LIKE 'file%' ORDER BY value")
            }
        }
        #expect(try agents().contains("only-in-old-rows"))
        let deleted = try store.write { try $0.deleteOlder(in: AuditLogRow.schema, than: Timestamp(rfc3339: "2026-03-01T00:00:00Z")!, limit: 100) }
        #expect(deleted == 2)
        #expect(try !agents().contains("only-in-old-rows") && agents().contains("shared"))
        try Self.refsHold(store)

        // The id this writer cached for "only-in-old-rows" names nothing now.
        var again = auditRow("again", at: "2026-06-02T00:00:00Z")
        again.userAgent = "only-in-old-rows"
        #expect(try store.write { try $0.insert(again) } == .inserted)
        let c = Collect()
        try store.query("SELECT tp_id, user_agent FROM kubernetes_audit_logs ORDER BY tp_id", into: c)
        #expect(c.rows == [["again:ResponseComplete", "only-in-old-rows"], ["kept:ResponseComplete", "shared"]])
        try Self.refsHold(store)
    }
}
