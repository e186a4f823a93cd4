import Foundation
import Testing
import TestSupport

/// `GET /v1/tail` and `kubetrail tail --server` against a real aggregator, on both stores.
@Suite(.serialized) struct TailAPITests {
    func get(_ server: ServerProcess, _ token: String?, _ query: String) throws -> Curl.Reply {
        var headers: [String: String] = [:]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        return try Curl.request(server.baseURL + "/v1/tail?" + query, method: "GET", headers: headers, extra: ["--max-time", "10"])
    }

    @Test(arguments: TestBackend.allCases) func badRequestsAreRefusedWithTheirStatus(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        #expect(try get(server, nil, "table=kubernetes_audit_logs").status == 401)
        #expect(try get(server, "wrong-\(UUID())", "table=kubernetes_audit_logs").status == 401)
        #expect(try get(server, f.ingestToken, "table=kubernetes_audit_logs").status == 403)
        let cases: [(String, Int, String)] = [
            ("table=kubernetes_detections", 400, "table must be one of"),
            ("table=nope", 400, "table must be one of"),
            ("table=kubernetes_audit_logs&where=1%3D1)%20OR%20(1", 400, "where"),
            ("table=kubernetes_audit_logs&where=1%3B%20DELETE%20FROM%20kubernetes_audit_logs", 400, "where"),
            ("table=kubernetes_audit_logs&where=no_such_column%20%3D%201", 400, "no_such_column"),
            ("table=kubernetes_audit_logs&cursor=garbage", 400, "cursor"),
            ("table=kubernetes_audit_logs&since=yesterday-ish", 400, "since"),
            ("table=kubernetes_audit_logs&since=10m&cursor=kt1.ab.1.1.0", 400, "not both"),
            // A cursor another store gave: it cannot be a position here.
            ("table=kubernetes_audit_logs&cursor=kt1.0123456789abcdef.1.5.0", 410, "since")
        ]
        for (query, status, words) in cases {
            let r = try get(server, f.queryToken, query)
            #expect(r.status == status && (r.json?["error"] as? String ?? "").contains(words), "\(query): \(r.status) \(r.body)")
        }
        #expect(try f.count("SELECT count(*) FROM kubernetes_audit_logs") == 0)
    }

    @Test(arguments: TestBackend.allCases) func historyThenLiveThenResumedByCursorFile(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b0.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        let cursorFile = f.dir.path("follow.cursor")
        let arguments = [
            "tail", "kubernetes_audit_logs", "--server", server.baseURL, "--token-file", f.dir.path("query.tokens"), "--since", "2000-01-01T00:00:00Z",
            "-o", "jsonl", "--cursor-file", cursorFile, "--where", "verb <> 'watch'"
        ]
        let expected = { try f.count("SELECT count(*) FROM kubernetes_audit_logs WHERE verb <> 'watch'") }
        var follower = try FollowerProcess(arguments, out: f.dir.path("follow.out"))
        let history = try expected()
        #expect(history > 0)
        #expect(follower.waitFor { $0.count == history }, "\(follower.errors)")
        // Live: rows committed after the follow started come without asking again.
        for copy in 1...2 {
            #expect(try f.ingest(server, file: f.write("b\(copy).z", AggregatorFixture.fixtureBatch(auditCopy: copy).deflated())).status == 200)
        }
        let live = try expected()
        #expect(follower.waitFor { $0.count == live }, "\(follower.errors)")
        // Killed and started again with its cursor file: what came in between, and nothing twice.
        follower.kill9()
        #expect(try f.ingest(server, file: f.write("b3.z", AggregatorFixture.fixtureBatch(auditCopy: 3).deflated())).status == 200)
        follower = try FollowerProcess(arguments, out: f.dir.path("follow.out"), append: true)
        let all = try expected()
        #expect(follower.waitFor { $0.count == all }, "\(follower.errors)")
        Thread.sleep(forTimeInterval: 1)
        let rows = follower.lines.compactMap { line in (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] }
        let ids = rows.compactMap { $0["tp_id"] as? String }
        #expect(ids.count == all && Set(ids).count == all)
        #expect(rows.count == all && rows.allSatisfy { $0["verb"] as? String != "watch" })
        follower.stop()
    }

    /// Three curl followers of one table from one position: plain, `--compressed` (curl offers
    /// zstd and decodes it), and asking for zstd without decoding. The decoded stream is the
    /// plain one line for line (history and the live pages shared between followers); the
    /// bytes on the wire are zstd frames, a fraction of the plain size.
    @Test func aZstdFollowIsThePlainStreamInAFractionOfTheBytes() throws {
        let f = try AggregatorFixture(.sqlite)
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b0.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        let url = server.baseURL + "/v1/tail?table=kubernetes_audit_logs&since=2000-01-01T00:00:00Z"
        func follower(_ name: String, _ options: [String]) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments =
                ["-s", "--max-time", "120", "-D", f.dir.path(name + ".head"), "-o", f.dir.path(name + ".body"), "-H", "Authorization: Bearer \(f.queryToken)"]
                + options + [url]
            try p.run()
            return p
        }
        let followers = [
            try follower("plain", []), try follower("decoded", ["--compressed"]), try follower("wire", ["-H", "Accept-Encoding: gzip, zstd;q=0.5"])
        ]
        Thread.sleep(forTimeInterval: 2)
        for copy in 1...2 {
            #expect(try f.ingest(server, file: f.write("b\(copy).z", AggregatorFixture.fixtureBatch(auditCopy: copy).deflated())).status == 200)
        }
        func read(_ file: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: f.dir.path(file))) }
        func lines(_ file: String) throws -> [Substring] { String(decoding: try read(file), as: UTF8.self).split(separator: "\n") }
        // Followers run on what the cores leave (the idle class): under a parallel test run they
        // may take a while. Done when both readable streams hold every row; the undecoded one
        // reads the same shared pages.
        let rows = try f.count("SELECT count(*) FROM kubernetes_audit_logs")
        let isRow = { (line: Substring) in line.hasPrefix("[") }
        let until = Date().addingTimeInterval(90)
        while Date() < until, (try? lines("plain.body").filter(isRow).count) != rows || (try? lines("decoded.body").filter(isRow).count) != rows {
            Thread.sleep(forTimeInterval: 0.2)
        }
        Thread.sleep(forTimeInterval: 1)
        for p in followers {
            p.terminate()
            p.waitUntilExit()
        }
        let head = { (name: String) in String(decoding: (try? read(name + ".head")) ?? Data(), as: UTF8.self).lowercased() }
        #expect(!head("plain").contains("content-encoding"))
        #expect(head("decoded").contains("content-encoding: zstd") && head("wire").contains("content-encoding: zstd"))
        let plain = try lines("plain.body")
        // The columns line, every row once, and a cursor line for the history and for each live
        // page (one or two: the two batches may come in one page).
        let plainRows = plain.filter(isRow)
        #expect(rows == 300 && plainRows.count == rows && Set(plainRows).count == rows, "\(plainRows.count) rows of \(rows)")
        #expect(plain.first?.hasPrefix("{\"columns\"") == true && plain.filter { $0.hasPrefix("{\"cursor\"") }.count >= 2)
        // Page bounds may differ (a follower may read a page before the second batch commits
        // and another after): the rows and the last position must not.
        let decoded = try lines("decoded.body")
        let isCursor = { (line: Substring) in line.hasPrefix("{\"cursor\"") }
        #expect(decoded.filter { !isCursor($0) } == plain.filter { !isCursor($0) })
        #expect(decoded.last(where: isCursor) == plain.last(where: isCursor))
        let wire = try read("wire.body")
        #expect(Array(wire.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD], "a zstd frame's magic number")
        #expect(wire.count * 3 < (try read("plain.body")).count, "\(wire.count) zstd bytes for \((try? read("plain.body"))?.count ?? 0) plain")
    }
}
