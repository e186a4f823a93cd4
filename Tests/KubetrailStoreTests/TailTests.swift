import Foundation
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

/// Following a table through the change journal: every committed change once, in order, from
/// a cursor that survives a reconnect, on both stores.
@Suite struct TailTests {
    /// Reads pages from `cursor` until caught up; the `tp_id`s seen and where it stopped.
    /// On PostgreSQL another test's open transaction (any database on the shared server) holds
    /// committed changes back for a moment: `waitingForHeld` reads on until they come.
    func follow(
        _ store: any Store, _ table: TableSchema, from cursor: TailCursor, condition: String? = nil, maxEntries: Int = 2000,
        waitingForHeld: Bool = true
    ) throws -> (ids: [String], cursor: TailCursor) {
        var cursor = cursor
        var ids: [String] = []
        while true {
            let sink = Collect()
            let page = try store.tail(TailRequest(table: table, condition: condition, start: .after(cursor), maxEntries: maxEntries), into: sink)
            if let i = sink.columns.firstIndex(of: "tp_id") { ids += sink.rows.map { $0[i] } }
            #expect(page.rows == sink.rows.count)
            cursor = page.cursor
            if page.heldBack && waitingForHeld {
                Thread.sleep(forTimeInterval: 0.02)
                continue
            }
            if page.caughtUp { return (ids, cursor) }
        }
    }

    func start(_ store: any Store, _ table: TableSchema, since: Timestamp? = nil, condition: String? = nil) throws -> (ids: [String], cursor: TailCursor) {
        let sink = Collect()
        let page = try store.tail(TailRequest(table: table, condition: condition, start: .since(since)), into: sink)
        let i = sink.columns.firstIndex(of: "tp_id")
        return (i.map { i in sink.rows.map { $0[i] } } ?? [], page.cursor)
    }

    @Test(arguments: TestBackend.allCases) func changesAfterTheCursorComeOnceInCommitOrder(backend: TestBackend) throws {
        let store = try openStore(backend)
        try store.write { w in _ = try w.insert(auditRow("before")) }
        let (history, cursor) = try start(store, AuditLogRow.schema)
        #expect(history.isEmpty)
        try store.write { w in _ = try [auditRow("c"), auditRow("a")].map { try w.insert($0) } }
        try store.write { w in _ = try w.insert(auditRow("b")) }
        // Small pages: the cursor moves page by page and nothing is read twice.
        let (ids, next) = try follow(store, AuditLogRow.schema, from: cursor, maxEntries: 1)
        #expect(ids == ["c:ResponseComplete", "a:ResponseComplete", "b:ResponseComplete"])
        #expect(try follow(store, AuditLogRow.schema, from: next).ids.isEmpty)
        // A duplicate is not a change.
        try store.write { w in _ = try w.insert(auditRow("a")) }
        try store.write { w in _ = try w.insert(auditRow("d")) }
        // The cursor as text, as a client keeps it across a reconnect.
        let resumed = try #require(TailCursor(next.description))
        #expect(try follow(store, AuditLogRow.schema, from: resumed).ids == ["d:ResponseComplete"])
    }

    @Test(arguments: TestBackend.allCases) func historyFromSinceThenLiveWithNoRepeat(backend: TestBackend) throws {
        let store = try openStore(backend)
        try store.write { w in
            _ = try w.insert(auditRow("old", at: "2026-11-27T09:00:00Z"))
            _ = try w.insert(auditRow("new2", at: "2026-11-27T10:00:02Z"))
            _ = try w.insert(auditRow("new1", at: "2026-11-27T10:00:01Z"))
        }
        let (history, cursor) = try start(store, AuditLogRow.schema, since: Timestamp(rfc3339: "2026-11-27T10:00:00Z"))
        #expect(history == ["new1:ResponseComplete", "new2:ResponseComplete"])  // in time order
        try store.write { w in _ = try w.insert(auditRow("late", at: "2026-11-27T08:00:00Z")) }
        #expect(try follow(store, AuditLogRow.schema, from: cursor).ids == ["late:ResponseComplete"])
    }

    @Test(arguments: TestBackend.allCases) func aReplacedRowComesOnceAtItsLatestChange(backend: TestBackend) throws {
        let store = try openStore(backend)
        let (_, cursor) = try start(store, EventRow.schema)
        try store.write { w in _ = try w.insert(eventRow(uid: "e1", rv: "1", count: 1)) }
        try store.write { w in _ = try w.insert(eventRow(uid: "e2", rv: "1", count: 1)) }
        try store.write { w in _ = try w.insert(eventRow(uid: "e1", rv: "2", count: 2)) }
        try store.write { w in _ = try w.insert(eventRow(uid: "e1", rv: "1", count: 9)) }  // older: no change
        let sink = Collect()
        while try store.tail(TailRequest(table: EventRow.schema, start: .after(cursor)), into: sink).heldBack { Thread.sleep(forTimeInterval: 0.02) }
        let id = try #require(sink.columns.firstIndex(of: "tp_id")), count = try #require(sink.columns.firstIndex(of: "count"))
        #expect(sink.rows.map { [$0[id], $0[count]] } == [["e2", "1"], ["e1", "2"]])
        // Changed again after it was read: a new change, shown again.
        let (_, after) = try follow(store, EventRow.schema, from: cursor)
        try store.write { w in _ = try w.insert(eventRow(uid: "e2", rv: "3", count: 3)) }
        #expect(try follow(store, EventRow.schema, from: after).ids == ["e2"])
    }

    /// Two versions of one object (or a partial line and its completion) in one call are one
    /// change: the follower meets the row once, as it was last written.
    @Test(arguments: TestBackend.allCases) func twoChangesToARowInOneCallAreOneEntry(backend: TestBackend) throws {
        let store = try openStore(backend)
        let (_, cursor) = try start(store, EventRow.schema)
        let versions = [try eventRow(uid: "e1", rv: "1", count: 1), try eventRow(uid: "e1", rv: "2", count: 2), try eventRow(uid: "e2", rv: "1", count: 1)]
        _ = try store.write { w in try w.insert(versions.map { store.prepare($0) }) }
        let (ids, _) = try follow(store, EventRow.schema, from: cursor)
        #expect(ids == ["e1", "e2"])
    }

    /// The condition may name the table, as in a WHERE clause on it.
    @Test(arguments: TestBackend.allCases) func aConditionMayNameItsTable(backend: TestBackend) throws {
        let store = try openStore(backend)
        let (_, cursor) = try start(store, AuditLogRow.schema)
        try store.write { w in _ = try [auditRow("x"), auditRow("y")].map { try w.insert($0) } }
        #expect(try follow(store, AuditLogRow.schema, from: cursor, condition: "kubernetes_audit_logs.audit_id = 'y'").ids == ["y:ResponseComplete"])
    }

    @Test(arguments: TestBackend.allCases) func aConditionFiltersButTheCursorStillMoves(backend: TestBackend) throws {
        let store = try openStore(backend)
        let (_, cursor) = try start(store, AuditLogRow.schema)
        try store.write { w in _ = try (0..<20).map { try w.insert(auditRow("x\($0)")) } }
        let (ids, next) = try follow(store, AuditLogRow.schema, from: cursor, condition: "audit_id = 'x7' OR audit_id = 'x19'", maxEntries: 3)
        #expect(ids == ["x7:ResponseComplete", "x19:ResponseComplete"])
        #expect(next != cursor)
        // A condition that is not valid SQL fails the first page with the engine's message,
        // also when there is nothing new to run it on.
        for start in [TailRequest.Start.since(nil), .after(next)] {
            #expect(throws: StoreError.self) {
                try store.tail(TailRequest(table: AuditLogRow.schema, condition: "no_such_column = 1", start: start), into: Collect())
            }
        }
    }

    @Test(arguments: TestBackend.allCases) func aCursorFromElsewhereOrPrunedIsRefused(backend: TestBackend) throws {
        let store = try openStore(backend), other = try openStore(backend)
        let (_, cursor) = try start(store, AuditLogRow.schema)
        #expect(throws: TailError.self) {
            try store.tail(TailRequest(table: AuditLogRow.schema, start: .after(try start(other, AuditLogRow.schema).cursor)), into: Collect())
        }
        #expect(throws: TailError.self) { try store.tail(TailRequest(table: EventRow.schema, start: .after(cursor)), into: Collect()) }
        #expect(throws: TailError.self) { try store.tail(TailRequest(table: DetectionRow.schema, start: .since(nil)), into: Collect()) }
        try store.write { w in _ = try w.insert(auditRow("a")) }
        let (_, read) = try follow(store, AuditLogRow.schema, from: cursor)
        try store.write { w in _ = try w.insert(auditRow("b")) }
        // Pruned past the cursor: the changes between are gone, so resuming would skip them.
        #expect(try store.write { try $0.pruneChanges(olderThan: .now.adding(microseconds: 10_000_000), limit: 100) } == 2)
        #expect(throws: TailError.expired) { try store.tail(TailRequest(table: AuditLogRow.schema, start: .after(read)), into: Collect()) }
        // Rows stay; a follower starts again by time and carries on from the new cursor. On
        // PostgreSQL a start is refused too while a transaction older than the pruned entries
        // still runs (another test's, on the shared server): its entries might be gone.
        for attempt in 1... {
            let (history, fresh) = try start(store, AuditLogRow.schema, since: Timestamp(rfc3339: "2026-01-01T00:00:00Z"))
            #expect(history.count == 1 + attempt)  // a, b, and the c of each earlier attempt
            try store.write { w in _ = try w.insert(auditRow("c\(attempt)")) }
            do {
                #expect(try follow(store, AuditLogRow.schema, from: fresh).ids == ["c\(attempt):ResponseComplete"])
                break
            } catch TailError.expired where backend == .postgres && attempt < 100 {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    @Test func cursorText() {
        let c = TailCursor(store: "ab12", table: 2, position: 77, ordinal: 3, snapshot: "10:15:11,12")
        #expect(TailCursor(c.description) == c)
        for bad in ["", "kt1", "kt2.ab.2.1.0", "kt1.ab.x.1.0", "kt1..2.1.0", "kt1.ab.2.1.0.1:2", "kt1.ab.2.1.0.1:2:3'", "kt1.a-b.2.1.0", "kt1.ab.2.-1.0"] {
            #expect(TailCursor(bad) == nil, "\(bad)")
        }
    }

    /// Two aggregators on one database: a transaction that took its id first but commits last
    /// is waited for, not skipped (a follower reading by commit time or a sequence would miss it).
    @Test func postgresWaitsForAnEarlierTransactionThatCommitsLater() throws {
        let url = try SharedPostgres.newDatabase()
        let a = try StoreLocation(parsing: url).open(.readWrite), b = try StoreLocation(parsing: url).open(.readWrite)
        let (_, cursor) = try start(a, EventRow.schema)
        let early = try OpenTransaction(a, inserting: eventRow(uid: "early", rv: "1", count: 1))
        try b.write { w in _ = try w.insert(eventRow(uid: "later", rv: "1", count: 1)) }
        let sink = Collect()
        let held = try b.tail(TailRequest(table: EventRow.schema, start: .after(cursor)), into: sink)
        #expect(sink.rows.isEmpty && held.heldBack && held.cursor == cursor)  // "later" committed, but "early" may still commit before it in key order
        try early.commit()
        #expect(try follow(b, EventRow.schema, from: cursor).ids == ["early", "later"])
    }

    /// A page that read rows and stopped at the horizon says the rest is held back, so its
    /// follower looks again soon rather than after a full poll (or, in a test, stops short).
    @Test func aPostgresPageWithRowsSaysWhenTheRestIsHeldBack() throws {
        let url = try SharedPostgres.newDatabase()
        let a = try StoreLocation(parsing: url).open(.readWrite), b = try StoreLocation(parsing: url).open(.readWrite)
        let (_, cursor) = try start(a, EventRow.schema)
        try b.write { w in _ = try w.insert(eventRow(uid: "first", rv: "1", count: 1)) }
        let open = try OpenTransaction(a, inserting: eventRow(uid: "open", rv: "1", count: 1))
        try b.write { w in _ = try w.insert(eventRow(uid: "second", rv: "1", count: 1)) }
        // Until "first" comes (another test's transaction on the shared server may hold it back
        // a moment too), every page says "second" waits: it is committed, behind "open".
        var at = cursor
        var seen: [String] = []
        var pageWithRowsSaidHeld = false
        let deadline = Date().addingTimeInterval(30)
        while !seen.contains("first") && Date() < deadline {
            let sink = Collect()
            let page = try b.tail(TailRequest(table: EventRow.schema, start: .after(at)), into: sink)
            if let i = sink.columns.firstIndex(of: "tp_id") { seen += sink.rows.map { $0[i] } }  // no columns on an empty page
            #expect(page.caughtUp && page.heldBack)
            if !sink.rows.isEmpty { pageWithRowsSaidHeld = page.heldBack }
            at = page.cursor
            if sink.rows.isEmpty { Thread.sleep(forTimeInterval: 0.02) }
        }
        #expect(seen == ["first"] && pageWithRowsSaidHeld)
        try open.commit()
        #expect(try follow(b, EventRow.schema, from: at).ids == ["open", "second"])
    }
}

extension TailTests {
    /// A follow that starts from `since` while a transaction is still running: the history
    /// cannot see that transaction's rows, the follow shows them once it commits, and rows the
    /// history showed (even of transactions newer than the running one) are not shown again.
    @Test func postgresHistoryAndTheChangesAfterItMeetWithNoGapOrRepeat() throws {
        let url = try SharedPostgres.newDatabase()
        let a = try StoreLocation(parsing: url).open(.readWrite), b = try StoreLocation(parsing: url).open(.readWrite)
        try b.write { w in _ = try w.insert(eventRow(uid: "before", rv: "1", count: 1)) }
        let held = try OpenTransaction(a, inserting: eventRow(uid: "running", rv: "1", count: 1))
        try b.write { w in _ = try w.insert(eventRow(uid: "visible", rv: "1", count: 1)) }  // a newer id than "running", committed first
        let (history, cursor) = try start(b, EventRow.schema, since: Timestamp(rfc3339: "2000-01-01T00:00:00Z"))
        #expect(Set(history) == ["before", "visible"])
        #expect(cursor.snapshot != nil)
        try held.commit()
        try b.write { w in _ = try w.insert(eventRow(uid: "after", rv: "1", count: 1)) }
        let (ids, next) = try follow(b, EventRow.schema, from: cursor)
        #expect(ids == ["running", "after"])
        #expect(next.snapshot == nil)  // past the history's snapshot: no longer carried
    }

    @Test func aPostgresCursorFromBeyondTheServersTransactionsIsRefused() throws {
        let store = try openStore(.postgres)
        let (_, cursor) = try start(store, AuditLogRow.schema)
        var future = cursor
        future.snapshot = nil
        future.position += 1_000_000_000
        #expect(throws: TailError.foreignCursor) { try store.tail(TailRequest(table: AuditLogRow.schema, start: .after(future)), into: Collect()) }
    }

    @Test func whetherAHistoryCoversWhatWasPruned() {
        #expect(PostgresTailPage.historyCovers("100:105:100,103", prunedThrough: 99))
        #expect(!PostgresTailPage.historyCovers("100:105:100,103", prunedThrough: 100))  // 100 was running: its entries may be gone
        #expect(!PostgresTailPage.historyCovers("100:105:100,103", prunedThrough: 104))
        #expect(!PostgresTailPage.historyCovers("100:105:", prunedThrough: 105))  // after the snapshot
        #expect(PostgresTailPage.historyCovers("100:105:", prunedThrough: 104))
        #expect(!PostgresTailPage.historyCovers(nil, prunedThrough: 1))
    }
}

/// A write transaction that has inserted a row and stays open (on a thread of its own) until
/// `commit`: another aggregator's group commit caught in the middle.
private final class OpenTransaction: @unchecked Sendable {
    private let release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
    private var error: Error?

    init(_ store: any Store, inserting row: EventRow) throws {
        let holding = DispatchSemaphore(value: 0)
        Thread { [self] in
            do {
                try store.write { w in
                    _ = try w.insert(row)
                    holding.signal()
                    release.wait()
                }
            } catch {
                self.error = error
                holding.signal()
            }
            done.signal()
        }.start()
        holding.wait()
    }

    func commit() throws {
        release.signal()
        done.wait()
        if let error { throw error }
    }
}
