import Foundation
import KubetrailCore
import Synchronization
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

/// `Store.scanAudit` hands over the stored bytes exactly, on both backends: PostgreSQL's rows
/// come by binary COPY, and values with tabs, newlines, backslashes, `\N` and quotes, empty
/// and NULL, lists of them, are read back here as SQLite reads them.
@Suite struct AuditScanTests {
    static let awkward = "/api/v1/a\tb\nc\r\\d\\N é \u{0B}\u{0C}\u{08} 日本"

    static func row() -> AuditLogRow {
        var r = auditRow("escapes")
        r.requestURI = awkward
        r.userAgent = "\\N"
        r.userGroups = ["a\tb", "\\", "x,y", "q\"z", "{}", "NULL"]
        r.name = ""
        r.namespace = nil
        r.responseCode = 403
        return r
    }

    @Test(arguments: TestBackend.allCases) func valuesComeBackAsStored(backend: TestBackend) throws {
        let store = try openStore(backend)
        _ = try store.write { w in try w.insert(Self.row()) }
        let columns = ["request_uri", "user_agent", "user_groups", "name", "namespace", "response_code"].map { AuditScanColumn($0) }
        var texts: [[String?]] = []
        var values: [[QueryValue]] = []
        var codes: [Int64?] = []
        _ = try store.scanAudit(columns, scope: .all, selection: nil, limits: QueryLimits(), streams: 1) { _, row in
            texts.append(try columns.indices.map { i in try row.withText(i) { $0.map { String(decoding: $0, as: UTF8.self) } } })
            values.append(try columns.indices.map { try row.value($0) })
            codes.append(row.integer(5))
        }
        #expect(texts.count == 1)
        #expect(texts.first?[0] == Self.awkward)
        #expect(texts.first?[1] == "\\N")
        #expect(texts.first?[2] == JSONText.array(["a\tb", "\\", "x,y", "q\"z", "{}", "NULL"]))
        #expect(texts.first?[3] == "")
        #expect(texts.first?[4] == nil)
        #expect(texts.first?[5] == "403")
        #expect(values.first?[4] == .null && values.first?[3] == .text(""))
        #expect(codes == [403])
    }

    /// A span of the audit chain reads the rows committed in it and no other, rows of several
    /// days (partitions on PostgreSQL) included; a time range reads by `tp_timestamp`.
    @Test(arguments: TestBackend.allCases) func aChainSpanReadsTheRowsCommittedInIt(backend: TestBackend) throws {
        let store = try openStore(backend)
        var heads: [Int64] = [0]
        var batches: [Set<String>] = []
        for (b, day) in ["25", "26", "27"].enumerated() {
            let ids = (0..<5).map { "b\(b)-\($0)" }
            _ = try store.write { w in try ids.enumerated().map { i, id in try w.insert(auditRow(id, at: "2026-11-\(i % 2 == 0 ? day : "27")T10:00:0\(i)Z")) } }
            heads.append(try #require(try store.chainHeads().first).lastSeq)
            batches.append(Set(ids))
        }
        let cluster = try #require(try store.chainHeads().first).cluster
        func ids(_ scope: AuditScanScope) throws -> [String] {
            var found: [String] = []
            _ = try store.scanAudit([AuditScanColumn("audit_id")], scope: scope, selection: nil, limits: QueryLimits(), streams: 1) { _, row in
                found.append(try row.withText(0) { String(decoding: $0!, as: UTF8.self) })
            }
            return found
        }
        for b in 0..<3 {
            let found = try ids(.chain(cluster: cluster, after: heads[b], through: heads[b + 1]))
            #expect(found.count == 5 && Set(found) == batches[b], "batch \(b): \(found)")
        }
        #expect(try ids(.chain(cluster: cluster, after: heads[1], through: heads[3])).count == 10)
        #expect(try ids(.chain(cluster: "another", after: 0, through: heads[3])).isEmpty)
        let day = try ids(.time(from: Timestamp(rfc3339: "2026-11-26T00:00:00Z"), to: Timestamp(rfc3339: "2026-11-27T00:00:00Z")))
        #expect(Set(day) == ["b1-0", "b1-2", "b1-4"])
        #expect(try ids(.all).count == 15)
    }

    /// A scan over more rows than the limit allows, or a value longer than it, stops with the
    /// limit's error, and the store answers the next scan.
    @Test(arguments: TestBackend.allCases) func limitsStopAScan(backend: TestBackend) throws {
        let store = try openStore(backend)
        _ = try store.write { w in try (0..<20).map { try w.insert(auditRow("r\($0)")) } }
        let columns = [AuditScanColumn("audit_id")]
        var limits = QueryLimits()
        limits.maxRows = 5
        #expect(throws: StoreError.self) { _ = try store.scanAudit(columns, scope: .all, selection: nil, limits: limits, streams: 1) { _, _ in } }
        var seen = 0
        _ = try store.scanAudit(columns, scope: .all, selection: nil, limits: QueryLimits(), streams: 1) { _, _ in seen += 1 }
        #expect(seen == 20)
    }

    /// An error thrown by the caller for one row stops the scan with that error (the rest of a
    /// COPY is drained), and the connection serves the next scan.
    @Test(arguments: TestBackend.allCases) func aCallersErrorStopsTheScan(backend: TestBackend) throws {
        struct Enough: Error {}
        let store = try openStore(backend)
        _ = try store.write { w in try (0..<2000).map { try w.insert(auditRow("r\($0)")) } }
        var seen = 0
        #expect(throws: Enough.self) {
            _ = try store.scanAudit([AuditScanColumn("audit_id")], scope: .all, selection: nil, limits: QueryLimits(), streams: 1) { _, _ in
                seen += 1
                if seen == 3 { throw Enough() }
            }
        }
        #expect(seen == 3)
        var again = 0
        _ = try store.scanAudit([AuditScanColumn("audit_id")], scope: .all, selection: nil, limits: QueryLimits(), streams: 1) { _, _ in again += 1 }
        #expect(again == 2000)
    }
}

extension AuditScanTests {
    /// Only the rows the selection holds come out, with verbs and resources compared with ASCII
    /// letters folded, a NULL verb held only by an alternative that takes any verb.
    @Test(arguments: TestBackend.allCases) func theSelectionPicksRows(backend: TestBackend) throws {
        let store = try openStore(backend)
        let rows: [(String, String?, String?)] = [
            ("a", "create", "pods"), ("b", "CREATE", "Pods"), ("c", "get", "pods"), ("d", "create", "secrets"),
            ("e", "list", "secrets"), ("f", nil, "secrets"), ("g", "delete", "events"), ("h", "get", nil)
        ]
        _ = try store.write { w in
            try rows.map { id, verb, resource in
                var r = auditRow(id)
                r.verb = verb
                r.resource = resource
                return try w.insert(r)
            }
        }
        func scan(_ alternatives: [AuditScanSelection.Alternative]) throws -> [String] {
            var ids: [String] = []
            _ = try store.scanAudit([AuditScanColumn("audit_id")], scope: .all, selection: AuditScanSelection(alternatives), limits: QueryLimits(), streams: 1)
            { _, row in
                ids.append(try row.withText(0) { String(decoding: $0!, as: UTF8.self) })
            }
            return ids.sorted()
        }
        #expect(try scan([.init(verbs: ["create"], resources: ["pods"])]) == ["a", "b"])
        #expect(try scan([.init(verbs: ["create"], resources: ["pods"]), .init(verbs: nil, resources: ["secrets"])]) == ["a", "b", "d", "e", "f"])
        #expect(try scan([.init(verbs: ["delete", "list"], resources: nil), .init(verbs: ["get"], resources: ["pods"])]) == ["c", "e", "g"])
        #expect(AuditScanSelection([.init(verbs: ["get"], resources: nil), .init(verbs: nil, resources: nil)]) == nil)
        #expect(AuditScanSelection([]) == nil)
    }
}

/// A scan split over connections that share a snapshot: every row once, whatever the number
/// of streams, each stream's rows on its own thread.
@Suite struct ParallelAuditScanTests {
    /// Enough rows for the table to be split: on PostgreSQL rows of 1.5 KB (under the size it
    /// compresses or moves out of line) past `minimumPagesToSplit`, on SQLite past
    /// `minimumRowsToSplit`.
    static func bigStore(_ backend: TestBackend) throws -> (any Store, Set<String>) {
        let store = try openStore(backend)
        var ids = Set<String>()
        var generator = SystemRandomNumberGenerator()
        let words = backend == .postgres ? 96 : 2
        for batch in 0..<(backend == .postgres ? 6 : 11) {
            _ = try store.write { w in
                try (0..<1000).map { i in
                    var r = auditRow("p\(batch)-\(i)")
                    r.requestURI = "/api/v1/" + (0..<words).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
                    ids.insert("p\(batch)-\(i)")
                    return try w.insert(r)
                }
            }
        }
        return (store, ids)
    }

    @Test(arguments: TestBackend.allCases) func everyRowOnceWhateverTheStreams(backend: TestBackend) throws {
        let (store, ids) = try Self.bigStore(backend)
        if let postgres = store as? PostgresStore {
            let c = try postgres.connect()
            _ = try c.execute("ANALYZE")
            for streams in [2, 3] {
                // Not a split in name only: the table is split into that many parts.
                let parts = try #require(try PostgresStore.pageRanges(of: "kubernetes_audit_logs", streams: streams, c))
                #expect(parts.count == streams)
            }
        }
        for streams in [1, 2, 3] {
            let seen = Mutex<[String]>([])
            let threads = Mutex<Set<Int>>([])
            _ = try store.scanAudit(
                [AuditScanColumn("audit_id"), AuditScanColumn("request_uri"), AuditScanColumn("tp_id", outputOnly: true)],
                scope: .all, selection: nil, limits: QueryLimits(), streams: streams
            ) { stream, row in
                #expect(stream >= 0 && stream < streams)
                let id = try row.withText(0) { String(decoding: $0!, as: UTF8.self) }
                // A column read later by rowid (SQLite) is read on the stream's own connection.
                #expect(try row.value(2) != .null)
                seen.withLock { $0.append(id) }
                _ = threads.withLock { $0.insert(stream) }
            }
            let all = seen.withLock { $0 }
            #expect(all.count == ids.count && Set(all) == ids, "\(streams) streams: \(all.count) rows")
            #expect(threads.withLock { $0.count } == streams)
        }
    }

    /// A failure in one stream stops the others and is the error the scan throws; the store
    /// answers the next scan.
    @Test(arguments: TestBackend.allCases) func oneStreamsErrorStopsTheScan(backend: TestBackend) throws {
        struct Broken: Error {}
        let (store, ids) = try Self.bigStore(backend)
        let rows = Mutex(0)
        #expect(throws: Broken.self) {
            _ = try store.scanAudit([AuditScanColumn("audit_id")], scope: .all, selection: nil, limits: QueryLimits(), streams: 2) { stream, _ in
                rows.withLock { $0 += 1 }
                if stream == 1 { throw Broken() }
            }
        }
        #expect(rows.withLock { $0 } < ids.count)
        let again = Mutex(0)
        _ = try store.scanAudit([AuditScanColumn("audit_id")], scope: .all, selection: nil, limits: QueryLimits(), streams: 2) { _, _ in
            again.withLock { $0 += 1 }
        }
        #expect(again.withLock { $0 } == ids.count)
    }

    /// The row limit counts the rows of all streams together.
    @Test(arguments: TestBackend.allCases) func theRowLimitIsForTheWholeScan(backend: TestBackend) throws {
        let (store, ids) = try Self.bigStore(backend)
        var limits = QueryLimits()
        limits.maxRows = ids.count * 2 / 3
        let rows = Mutex(0)
        #expect(throws: StoreError.self) {
            _ = try store.scanAudit([AuditScanColumn("audit_id")], scope: .all, selection: nil, limits: limits, streams: 2) { _, _ in rows.withLock { $0 += 1 }
            }
        }
        #expect(rows.withLock { $0 } <= limits.maxRows!)
    }

    /// SQLite's streams read one snapshot: rows committed after the connections began their
    /// reads are seen by none of them, though each connection starts its statement later.
    @Test func sqliteStreamsShareOneSnapshot() throws {
        let store = try #require(try openStore(.sqlite) as? SQLiteStore)
        _ = try store.write { w in try (0..<10).map { try w.insert(auditRow("before-\($0)")) } }
        let connections = try (0..<2).map { _ in try ReadOnlyConnection(path: store.path) }
        #expect(try SQLiteSharedSnapshot.begin(connections, path: store.path))
        // The write lock was let go: a writer commits at once.
        _ = try store.write { w in try (0..<5).map { try w.insert(auditRow("after-\($0)")) } }
        func count(_ c: ReadOnlyConnection) throws -> Int {
            let rows = Rows()
            try c.run("SELECT count(*) FROM kubernetes_audit_logs", into: rows)
            if case .int(let n) = rows.rows.first?.first { return Int(n) }
            return -1
        }
        #expect(try connections.map(count) == [10, 10])
        for c in connections { try c.endSnapshot() }
        #expect(try connections.map(count) == [15, 15])
        // The transaction statements are the connection's own: a user's are still refused.
        #expect(throws: StoreError.self) { try connections[0].run("BEGIN", into: Rows()) }
    }
}

private final class Rows: QuerySink {
    var rows: [[QueryValue]] = []
    func begin(columns: [QueryColumn]) {}
    func row(_ values: [QueryValue]) { rows.append(values) }
    func end() {}
}

/// Scans read PostgreSQL's binary forms; each type reads as the same value its text form does
/// (`PostgresValues`, which every other query uses), edge values included.
@Suite struct CopyBinaryTests {
    @Test func binaryValuesReadAsTheirTextForms() throws {
        let store = try #require(try openStore(.postgres) as? PostgresStore)
        let c = try store.connect()
        let select = """
            SELECT * FROM (VALUES
              ('2026-11-27 10:30:45.1234+00'::timestamptz, '{a,"b c",NULL,"x\\"y"}'::text[], 403::bigint, true, '2026-11-27'::date, '{"a": [1]}'::json, 'é\t'::text, 7::int4, (-3)::int2),
              ('1999-12-31 23:59:59.999999+00', '{}', -9223372036854775808, false, '1999-12-31', 'null', '', -2147483648, 32767),
              ('2000-01-01 00:00:00+00', '{""}', 9223372036854775807, NULL, '2000-01-01', NULL, NULL, NULL, NULL),
              ('1970-01-01 00:00:00.5+00', NULL, 0, NULL, '0044-03-15 BC', NULL, NULL, NULL, NULL),
              ('infinity', NULL, NULL, NULL, 'infinity', NULL, NULL, NULL, NULL),
              ('-infinity', NULL, NULL, NULL, '-infinity', NULL, NULL, NULL, NULL),
              ('10000-01-01 00:00:00.25+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              ('0044-03-15 12:00:00+00 BC', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
            ) AS v(t, l, n, b, d, j, x, i, s)
            """
        var types: [UInt32] = []
        var text: [[QueryValue]] = []
        try c.stream(select, begin: { types = $0.map(\.type) }, row: { r in text.append((0..<r.count).map { PostgresValues.value(r, $0, type: types[$0]) }) })
        var binary: [[QueryValue]] = []
        try c.copyOut(select: select, columns: types.count, stop: PostgresStop()) { r in
            binary.append((0..<r.count).map { r.isNull($0) ? .null : PostgresBinaryValues.value(r.bytes($0), type: types[$0]) })
        }
        #expect(text.count == 8)
        #expect(binary == text)
        #expect(text.first?[0] == .text("2026-11-27T10:30:45.123400Z"))
    }

    @Test func malformedDataIsAnError() {
        let cells = UnsafeMutableBufferPointer<PostgresCell>.allocate(capacity: 2)
        defer { cells.deallocate() }
        let header = CopyBinary.signature + [0, 0, 0, 0, 0, 0, 0, 0]
        func read(_ bytes: [UInt8]) -> String {
            var decoder = CopyBinary()
            do {
                return try bytes.withUnsafeBytes { "\(try decoder.read($0, into: cells, columns: 2))" }
            } catch {
                return "\(error)"
            }
        }
        #expect(read(header + [0, 2, 0, 0, 0, 1, 65, 255, 255, 255, 255]) == "row")
        #expect(read(header + [255, 255]) == "end")
        #expect(read(Array("PGCOPX\n".utf8) + [0xFF, 0x0D, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0]).contains("signature"))
        #expect(read(header + [0, 3, 0, 0, 0, 0]).contains("3 cells"))
        #expect(read(header + [0, 2, 0, 0, 0, 9, 65]).contains("runs past"))
        #expect(read(header + [0, 2, 0, 0, 0, 1, 65]).contains("cut short"))
    }

    /// A cell too short for its type is shown as the bytes it holds, never read past its end.
    @Test func malformedCellsAreReadWithinTheirBytes() {
        func value(_ bytes: [UInt8], _ type: UInt32) -> QueryValue {
            bytes.withUnsafeBytes { PostgresBinaryValues.value($0, type: type) }
        }
        for type in [PostgresValues.timestamptzOID, PostgresValues.timestampOID] {
            #expect(value([0, 0, 0, 0, 0, 0, 0, 0], type) == .text("2000-01-01T00:00:00.000000Z"))
            #expect(value([65, 66, 67], type) == .text("ABC"))
        }
        // One dimension, 2^31-1 elements declared, none there: not an array, and no 16 GiB reserved.
        let huge: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 127, 255, 255, 255, 0, 0, 0, 1]
        #expect(huge.withUnsafeBytes { PostgresBinaryValues.array($0) } == nil)
        #expect(value([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 120], PostgresValues.textArrayOID) == .text("[\"x\"]"))
    }
}
