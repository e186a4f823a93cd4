import Foundation
import KubetrailCore
import Testing
import TestSupport

/// Inputs found by review: each once crashed, leaked or bloated the aggregator.
@Suite(.serialized) struct HostileClientTests {
    func query(_ server: ServerProcess, _ f: AggregatorFixture, _ sql: String, format: String = "json") throws -> Curl.Reply {
        try Curl.request(
            server.baseURL + "/v1/query", headers: ["Authorization": "Bearer \(f.queryToken)"],
            body: try JSONSerialization.data(withJSONObject: ["sql": sql, "format": format]))
    }

    @Test func hostileBatchesAreRefusedOrBounded() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        // An offset at the end of the 64-bit range once overflowed and killed the process.
        var edge = WireBatchEncoder(node: "n", cluster: "")
        edge.append(.init(kind: .containerLogLine, path: "/p", identity: "i"), offset: UInt64.max, bytes: Array("a\nb".utf8))
        let r = try f.ingest(server, file: f.write("edge.z", edge.deflated()))
        #expect(r.status == 400 && r.body.contains("beyond any file"), "\(r.body)")

        // 300,000 garbage lines in one record: counted, not kept one by one.
        var garbage = WireBatchEncoder(node: "n", cluster: "")
        garbage.append(.init(kind: .containerLogLine, path: "/g", identity: "g"), offset: 0, bytes: Array(String(repeating: "x\n", count: 300_000).utf8))
        let g = try f.ingest(server, file: f.write("garbage.z", garbage.deflated()))
        #expect(g.status == 200)
        #expect(g.json?["rejected"] as? Int == 300_000)
        #expect((g.json?["rejections"] as? [Any])?.count == 100)

        // Bytes after the end of the zlib stream.
        let trailing = try f.write("trailing.z", AggregatorFixture.fixtureBatch().deflated() + Array("extra".utf8))
        let t = try f.ingest(server, file: trailing)
        #expect(t.status == 400 && t.body.contains("after the end of the deflate stream"), "\(t.body)")
        #expect(try Curl.request(server.baseURL + "/healthz", method: "GET").status == 200)
    }

    @Test func queriesCannotGrowWithoutBoundOrEscape() throws {
        let f = try AggregatorFixture()
        let server = try f.start(["--query-max-bytes", "200000", "--query-timeout", "2"])
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        let blob = try query(server, f, "SELECT zeroblob(50000000)")
        #expect(blob.status == 400 && blob.body.contains("too big"), "\(blob.body)")
        let like = try query(server, f, "SELECT printf('%.*c', 40000, 'a') ILIKE '%' || printf('%.*c', 20000, 'a') || 'b'")
        #expect(like.status == 400 && like.body.contains("ILIKE operands too long"), "\(like.body)")
        let tokenizer = try query(server, f, "SELECT hex(fts3_tokenizer('simple'))")
        #expect(tokenizer.status == 400 && tokenizer.body.contains("not authorized"), "\(tokenizer.body)")
        let big = try query(server, f, "SELECT request_object, response_object FROM kubernetes_audit_logs", format: "jsonl")
        #expect(big.status == 200)
        #expect(big.body.split(separator: "\n").last?.contains("larger than 200000 bytes") == true)
        #expect(big.body.utf8.count < 200_000 + 20_000)  // over by one row at most
        let bigJSON = try query(server, f, "SELECT request_object, response_object FROM kubernetes_audit_logs")
        #expect(bigJSON.status == 400 && bigJSON.body.contains("larger than 50000 bytes"), "\(bigJSON.body)")
    }

    @Test func emptiedOrRemovedTokenFilesRevoke() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        let batch = try f.write("b.z", AggregatorFixture.fixtureBatch().deflated())
        #expect(try f.ingest(server, file: batch).status == 200)
        try f.dir.write("ingest.tokens", "# all revoked\n")
        Thread.sleep(forTimeInterval: 1.2)
        #expect(try f.ingest(server, file: batch).status == 401)
        try f.dir.write("ingest.tokens", f.ingestToken + "\n")
        Thread.sleep(forTimeInterval: 1.2)
        #expect(try f.ingest(server, file: batch).status == 200)
        try FileManager.default.removeItem(atPath: f.dir.path("ingest.tokens"))
        Thread.sleep(forTimeInterval: 1.2)
        #expect(try f.ingest(server, file: batch).status == 401)
    }
}
