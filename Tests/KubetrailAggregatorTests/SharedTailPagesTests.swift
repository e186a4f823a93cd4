import Foundation
import Hummingbird
import HummingbirdTesting
import KubetrailCore
import KubetrailStore
import Logging
import Testing
import TestSupport

@testable import KubetrailAggregator

/// Followers' shared pages on a real store: what is kept for those who ask later, what is read
/// again, and a read that fails part way.
@Suite struct SharedTailPagesTests {
    final class Discard: QuerySink {
        func begin(columns: [QueryColumn]) {}
        func row(_ values: [QueryValue]) {}
        func end() {}
    }

    /// An aggregator's store, its audit table's position before any row, and then `batches` of 100 audit rows.
    func store(_ f: AggregatorFixture, batches: Int) async throws -> (store: any Store, start: TailCursor) {
        var config = AggregatorConfiguration(databasePath: f.db, ingestTokenFile: f.dir.path("ingest.tokens"))
        config.queryTokenFile = f.dir.path("query.tokens")
        let aggregator = try Aggregator(configuration: config, logger: Logger(label: "shared-pages-test"))
        aggregator.writer.start()
        defer { aggregator.writer.stop() }
        let start = try aggregator.queryStore.tail(TailRequest(table: Self.audit, start: .since(nil)), into: Discard()).cursor
        try await Application(router: aggregator.buildRouter()).test(.router) { client in
            for copy in 0..<batches {
                let body = try AggregatorFixture.fixtureBatch(auditCopy: copy).deflated()
                try await client.execute(
                    uri: "/v1/ingest", method: .post, headers: [.authorization: "Bearer \(f.ingestToken)", .contentEncoding: "deflate"],
                    body: ByteBuffer(bytes: body)
                ) { #expect($0.status == .ok) }
            }
        }
        return (aggregator.queryStore, start)
    }

    static let audit = ChangeJournal.tables.first { $0.name == "kubernetes_audit_logs" }!

    func key(_ cursor: TailCursor) -> SharedTailPages.Key {
        SharedTailPages.Key(table: Self.audit.name, condition: nil, cursor: cursor.description, maxEntries: 2000)
    }

    /// A page read when it reached the newest change is kept when it moved the cursor (a later
    /// follower at that position takes it and goes on from its end); a page that did not move
    /// is read again each time, or followers would spin on it.
    @Test func aPageThatMovedIsKeptAndOneThatDidNotIsReadAgain() async throws {
        let f = try AggregatorFixture()
        let (store, start) = try await store(f, batches: 2)
        let pages = SharedTailPages()
        var reads = 0
        func page(_ cursor: TailCursor) throws -> SharedTailPages.Page {
            try pages.page(key(cursor)) {
                reads += 1
                return try SharedTailPages.read(store, TailRequest(table: Self.audit, start: .after(cursor)), commitsBefore: 7)
            }
        }
        let first = try page(start)
        #expect(first.page.caughtUp && first.page.rows == 200 && first.commitsBefore == 7)
        let lines = first.body.split(separator: 0x0A)
        #expect(lines.count == 201 && lines.last.map { String(decoding: $0, as: UTF8.self) } == "{\"cursor\":\"\(first.page.cursor)\"}")
        #expect(String(decoding: first.header, as: UTF8.self).hasPrefix("{\"columns\":["))
        #expect(try page(start).body == first.body && reads == 1)
        // At the end: nothing new, the cursor stays; read every time it is asked for.
        let end = try page(first.page.cursor)
        #expect(end.page.rows == 0 && end.body.isEmpty && end.page.cursor == first.page.cursor)
        _ = try page(first.page.cursor)
        #expect(reads == 3)
        // Encoded once, whoever asks: the kept copy answers, the encoder is not called again.
        let zstd = first.body(.zstd)
        #expect(Array(zstd.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD] && zstd.count * 3 < first.body.count)
        var encoded = 0
        #expect(
            try page(start).encodings.get(.zstd) {
                encoded += 1; return []
            } == zstd && encoded == 0)
        #expect(try page(start).body(.zstd) == zstd && first.body(.identity) == first.body)
    }

    /// A follower whose client went away stops its page read part way; the page is dropped
    /// whole (the encoder's half-written output used to be flushed into the freed encoder,
    /// which crashed the aggregator) and a waiter reads the page itself.
    @Test func aPageReadStoppedPartWayIsDropped() async throws {
        let f = try AggregatorFixture()
        let (store, start) = try await store(f, batches: 3)
        var stopped = 0
        for after in stride(from: 1, through: 90, by: 4) {
            var request = TailRequest(table: Self.audit, start: .after(start))
            let calls = LockedCounter()
            request.limits.cancelled = { calls.next() > after }
            do {
                let page = try SharedTailPages.read(store, request, commitsBefore: 0)
                #expect(page.page.rows == 300)
            } catch {
                stopped += 1
            }
        }
        #expect(stopped > 0)
        let pages = SharedTailPages()
        let whole = try pages.page(key(start)) { try SharedTailPages.read(store, TailRequest(table: Self.audit, start: .after(start)), commitsBefore: 0) }
        #expect(whole.page.rows == 300 && whole.body.split(separator: 0x0A).count == 301)
    }
}

/// Counts calls from the store's progress handler.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func next() -> Int {
        lock.withLock {
            count += 1; return count
        }
    }
}
