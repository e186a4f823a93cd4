import Foundation
import GRDB
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

/// Rows prepared off the writer's thread are stored and chained exactly as rows inserted whole.
@Suite struct PreparedRowTests {
    /// Every audit event of a real log, prepared on other threads: the chain's row hash must be
    /// the one `verify` recomputes from the stored row, and nothing else may differ from rows
    /// prepared inline by the writer.
    @Test func preparedAuditRowsChainLikeRowsInsertedWhole() async throws {
        var rows: [AuditLogRow] = []
        let ctx = IngestContext(sourceType: .auditFile)
        for line in try Fixtures.text("audit/audit2rbac_demo.log").split(separator: "\n") {
            AuditDecoder.decode(Array(line.utf8), context: ctx) { if case .row(let r) = $0 { rows.append(r) } }
        }
        #expect(rows.count > 30)
        let all = rows
        let prepared = await withTaskGroup(of: (Int, PreparedRow<AuditLogRow>).self) { group in
            for (i, row) in all.enumerated() { group.addTask { (i, PreparedRow(row)) } }
            var out: [(Int, PreparedRow<AuditLogRow>)] = []
            for await p in group { out.append(p) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }

        let dir = try TemporaryDirectory()
        let off = try SQLiteStore(path: dir.path("prepared.db"))
        let inline = try SQLiteStore(path: dir.path("inline.db"))
        #expect(try off.write { w in try prepared.map { try w.insert($0) } }.allSatisfy { $0 == .inserted })
        #expect(try inline.write { w in try rows.map { try w.insert($0) } }.allSatisfy { $0 == .inserted })

        var checked = 0
        var hashes: [[UInt8]] = []
        try off.walkAuditChain(cluster: "default", after: 0) { entry, values in
            let values = try #require(values)
            #expect(entry.rowHash == RowHash.of(values), "row \(entry.id)")
            hashes.append(entry.chainHash)
            checked += 1
        }
        #expect(checked == rows.count)
        var inlineHashes: [[UInt8]] = []
        try inline.walkAuditChain(cluster: "default", after: 0) { entry, _ in inlineHashes.append(entry.chainHash) }
        #expect(hashes == inlineHashes)
    }

    @Test func preparedRowsOfUnchainedTablesKeepTheirConflictRules() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("s.db"))
        #expect(try store.write { try $0.insert(PreparedRow(eventRow(uid: "e", rv: "100", count: 1))) } == .inserted)
        #expect(try store.write { try $0.insert(PreparedRow(eventRow(uid: "e", rv: "105", count: 3))) } == .updated)
        #expect(try store.write { try $0.insert(PreparedRow(eventRow(uid: "e", rv: "99", count: 9))) } == .duplicate)
        #expect(try store.write { w in try w.chainClusters() }.isEmpty)
    }

    /// Rows prepared for PostgreSQL on the requests' threads carry what the writer would have
    /// computed itself: storable values (NUL, year 0000), the hash of those, and their COPY line.
    @Test func rowsPreparedForPostgresMatchWhatTheWriterWouldCompute() throws {
        var rows: [AuditLogRow] = []
        let ctx = IngestContext(sourceType: .auditFile)
        let odd = [
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id\u0000x","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"sourceIPs":["10.0.0.1","a\tb"],"stageTimestamp":"2026-11-27T10:00:00Z"}"#,
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"year-zero","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"stageTimestamp":"0000-01-01T00:00:00Z"}"#
        ]
        for line in try Fixtures.text("audit/audit2rbac_demo.log").split(separator: "\n").map(String.init) + odd {
            AuditDecoder.decode(Array(line.utf8), context: ctx) { if case .row(let r) = $0 { rows.append(r) } }
        }
        #expect(rows.count == 39)
        let schema = AuditLogRow.schema
        var changed = 0
        for row in rows {
            let ready = PreparedRow(postgres: row), plain = PreparedRow(row)
            let storable = PostgresValues.storable(row.values, schema.columns)
            if storable != nil { changed += 1 }
            let values = storable ?? row.values
            #expect(ready.postgresReady && ready.values == values && plain.postgresValues == values)
            #expect(ready.rowHash == RowHash.of(values))
            var line: [UInt8] = []
            CopyText.append(try PostgresTransaction.copyRow(values, schema), to: &line)
            #expect(ready.copyLine == line)
            guard case .text(let id) = values[0] else { Issue.record("tp_id is not text"); continue }
            #expect(ready.id == id && ready.cluster == row.common.index)
            if row.common.id.hasPrefix("year-zero") {
                #expect(ready.timestamp == "0001-01-01T00:00:00.000000Z" && plain.timestamp.hasPrefix("0000-01-01"), "\(ready.timestamp)")
            } else {
                #expect(ready.timestamp == plain.timestamp)
            }
            if row.common.id.hasPrefix("id") { #expect(ready.id == "id\u{FFFD}x:ResponseComplete", "\(ready.id)") }
        }
        #expect(changed == 2)
    }
}
