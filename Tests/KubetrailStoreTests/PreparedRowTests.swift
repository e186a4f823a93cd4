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
}
