import Foundation
import Synchronization
import GRDB
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

func auditRow(_ id: String, stage: String = "ResponseComplete", at ts: String = "2026-11-27T10:00:00Z") -> AuditLogRow {
    var row: AuditLogRow?
    let json = #"{"auditID":"\#(id)","stage":"\#(stage)","stageTimestamp":"\#(ts)","verb":"get","user":{"username":"u"}}"#
    AuditDecoder.decode(Array(json.utf8), context: IngestContext(sourceType: .auditFile)) { if case .row(let r) = $0 { row = r } }
    return row!
}

func eventRow(uid: String, rv: String, count: Int) throws -> EventRow {
    try EventNormalizer.row(
        KubeObject([
            "kind": "Event", "reason": "BackOff", "count": count, "lastTimestamp": "2026-11-27T10:00:0\(count % 10)Z",
            "metadata": ["uid": uid, "resourceVersion": rv]
        ]), context: IngestContext(sourceType: .apiWatch))
}

/// A new, empty store of `backend` (its directory kept alive by the store's lifetime in the test).
func openStore(_ backend: TestBackend, _ access: StoreLocation.Access = .readWrite) throws -> any Store {
    let dir = try TemporaryDirectory()
    let store = try StoreLocation(parsing: backend.location(in: dir)).open(access)
    keptDirectories.withLock { $0.append(dir) }
    return store
}

/// Directories of stores opened by `openStore`, removed when the test process ends.
let keptDirectories = Mutex<[TemporaryDirectory]>([])

@Suite struct StoreSemanticsTests {
    @Test(arguments: TestBackend.allCases) func reinsertedAuditRowsAreStoredOnce(backend: TestBackend) throws {
        let store = try openStore(backend)
        let rows = [auditRow("a"), auditRow("a", stage: "RequestReceived"), auditRow("b")]
        let first = try store.write { w in try rows.map { try w.insert($0) } }
        #expect(first == [.inserted, .inserted, .inserted])
        let second = try store.write { w in try rows.map { try w.insert($0) } }
        #expect(second == [.duplicate, .duplicate, .duplicate])
        let c = Collect()
        try store.query("SELECT tp_id FROM kubernetes_audit_logs ORDER BY tp_id", into: c)
        #expect(c.rows.map { $0[0] } == ["a:RequestReceived", "a:ResponseComplete", "b:ResponseComplete"])
    }

    @Test(arguments: TestBackend.allCases) func newerResourceVersionWinsOlderIsIgnored(backend: TestBackend) throws {
        let store = try openStore(backend)
        #expect(try store.write { try $0.insert(eventRow(uid: "e", rv: "100", count: 1)) } == .inserted)
        #expect(try store.write { try $0.insert(eventRow(uid: "e", rv: "105", count: 3)) } == .updated)
        #expect(try store.write { try $0.insert(eventRow(uid: "e", rv: "99", count: 9)) } == .duplicate)
        #expect(try store.write { try $0.insert(eventRow(uid: "e", rv: "105", count: 3)) } == .duplicate)
        let c = Collect()
        try store.query("SELECT count, resource_version FROM kubernetes_events", into: c)
        #expect(c.rows == [["3", "105"]])
    }

    @Test(arguments: TestBackend.allCases) func aFailedTransactionStoresNothing(backend: TestBackend) throws {
        let store = try openStore(backend)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try store.write { w in
                _ = try w.insert(auditRow("x"))
                throw Boom()
            }
        }
        let c = Collect()
        try store.query("SELECT COUNT(*) FROM kubernetes_audit_logs", into: c)
        #expect(c.rows == [["0"]])
    }

    @Test(arguments: TestBackend.allCases) func readersAreNotBlockedByAnOpenWriteTransaction(backend: TestBackend) async throws {
        let dir = try TemporaryDirectory()
        let location = try StoreLocation(parsing: backend.location(in: dir))
        let store = try location.open(.readWrite)
        _ = try store.write { try $0.insert(auditRow("committed")) }
        let reader = try location.open(.readOnly)
        let inWrite = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let writer = Thread {
            _ = try? store.write { w -> Int in
                _ = try w.insert(auditRow("uncommitted"))
                inWrite.signal()
                release.wait()
                return 0
            }
        }
        writer.start()
        inWrite.wait()
        let started = Date()
        let c = Collect()
        try reader.query("SELECT audit_id FROM kubernetes_audit_logs", into: c)
        let waited = Date().timeIntervalSince(started)
        release.signal()
        #expect(c.rows == [["committed"]])  // sees the last commit, not the open transaction
        #expect(waited < 5)  // did not wait for the writer's busy timeout
    }

    @Test func olderDatabasesGainNewColumnsAndIndexes() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("old.db")
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(
                    sql: "CREATE TABLE kubernetes_pod_logs (tp_id TEXT NOT NULL UNIQUE, tp_timestamp TEXT NOT NULL, timestamp TEXT NOT NULL, log_message TEXT)")
                try db.execute(sql: "INSERT INTO kubernetes_pod_logs VALUES ('old', '2020-01-01T00:00:00.000000Z', '2020-01-01T00:00:00.000000Z', 'kept')")
            }
        }
        let store = try SQLiteStore(path: path)
        let c = Collect()
        try store.query("SELECT log_message, log_level, log_truncated FROM kubernetes_pod_logs", into: c)
        #expect(c.rows == [["kept", "NULL", "NULL"]])
        let plan = try store.explain("SELECT * FROM kubernetes_pod_logs WHERE log_level = 'ERROR' ORDER BY timestamp")
        #expect(plan.joined().contains("INDEX"))
    }

    @Test func missingDatabaseIsAClearError() {
        #expect(throws: StoreError.self) { try SQLiteStore(readingFrom: "/nonexistent/kubetrail.db") }
        do { _ = try SQLiteStore(readingFrom: "/nonexistent/kubetrail.db") } catch {
            #expect("\(error)".contains("kubetrail import"))
        }
    }

    @Test(arguments: TestBackend.allCases) func deletedResourceRowIsRemoved(backend: TestBackend) throws {
        let store = try openStore(backend)
        let pod = try ResourceNormalizer.row(KubeObject(["kind": "Pod", "metadata": ["uid": "p1", "name": "x"]]), context: IngestContext(sourceType: .apiWatch))
        _ = try store.write { try $0.insert(pod) }
        #expect(try store.write { try $0.delete(table: ResourceRow.schema, id: "p1") })
        #expect(try !store.write { try $0.delete(table: ResourceRow.schema, id: "p1") })
    }

    /// A line stored while its file was still being written is completed by the whole line,
    /// in one call with other lines or alone, and never stored twice.
    @Test(arguments: TestBackend.allCases) func aPartialLineIsCompletedNotDuplicated(backend: TestBackend) throws {
        let store = try openStore(backend)
        let n = PodLogNormalizer(
            context: IngestContext(sourceType: .containerFile), path: ContainerLogPath(namespace: "ns", podName: "p"), nodeName: "n1", fileIdentity: "f")
        let t = Timestamp(microseconds: 1_764_237_600_000_000)
        func line(_ offset: Int64, _ text: String, partial: Bool) -> PreparedRow<PodLogRow> {
            PreparedRow(
                n.row(.init(timestamp: t, stream: "stdout", message: text, offset: offset, lineNumber: Int(offset), truncated: false, incomplete: partial)))
        }
        #expect(try store.write { try $0.insert([line(0, "first", partial: false), line(10, "sec", partial: true)]) } == [.inserted, .inserted])
        #expect(
            try store.write { try $0.insert([line(10, "second", partial: false), line(20, "third", partial: false), line(0, "first", partial: false)]) }
                == [.updated, .inserted, .duplicate])
        #expect(try store.write { try $0.insert([line(10, "sec", partial: true)]) } == [.duplicate])
        let c = Collect()
        try store.query("SELECT log_message FROM kubernetes_pod_logs ORDER BY log_message", into: c)
        #expect(c.rows == [["first"], ["second"], ["third"]])
    }
}
