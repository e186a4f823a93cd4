import Foundation
@testable import KubetrailAggregator
@testable import KubetrailExport
import KubetrailStore
import Testing
import TestSupport

/// `kubetrail export --server`: the same files as a local export of the same database, byte for
/// byte, in every format; the query role only; read-only; a cut stream is never a short export.
@Suite struct RemoteExportTests {
    @Test(arguments: TestBackend.allCases) func remoteExportWritesTheSameFilesAsALocalOne(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        for (table, format) in [("kubernetes_audit_logs", "csv"), ("kubernetes_audit_logs", "parquet"), ("kubernetes_pod_logs", "jsonl")] {
            let common = [
                "export", "--table", table, "--format", format, "--verb", "get,list,watch,create,update,patch,delete", "--from", "2020-01-01T00:00:00Z"
            ]
            let filters = table == "kubernetes_audit_logs" ? common : Array(common.prefix(5)) + ["--from", "2020-01-01T00:00:00Z"]
            let remoteDir = f.dir.path("remote-\(table)-\(format)"), localDir = f.dir.path("local-\(table)-\(format)")
            let remote = try Subprocess.kubetrail(filters + ["--out", remoteDir, "--server", server.baseURL, "--token-file", f.dir.path("query.tokens")])
            #expect(remote.status == 0 && remote.stdout.contains("from \(server.baseURL)"), "\(remote.stderr)")
            let local = try Subprocess.kubetrail(filters + ["--out", localDir, "--db", f.db])
            #expect(local.status == 0, "\(local.stderr)")
            func manifest(_ dir: String) throws -> [String: Any] {
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))) as! [String: Any]
            }
            let (r, l) = (try manifest(remoteDir), try manifest(localDir))
            let hashes = { (m: [String: Any]) in (m["files"] as! [[String: Any]]).map { $0["sha256"] as! String } }
            #expect(hashes(r) == hashes(l), "\(table) \(format): remote and local files differ")
            #expect((r["row_count"] as? Int ?? 0) > 0 && r["row_count"] as? Int == l["row_count"] as? Int)
            #expect(r["source"] as? String == server.baseURL && l["source"] == nil)
            if table == "kubernetes_audit_logs" {
                let chain = r["chain"] as? [[String: Any]]
                #expect(chain?.first?["cluster"] as? String == "test" && chain?.first?["entries"] as? Int == 100, "\(chain ?? [])")
            }
        }
    }

    @Test(arguments: TestBackend.allCases) func remoteReportMatchesTheLocalOne(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        // The report's Detections section reads findings the detection thread writes after the
        // commit: both reports are made once it has read every row, or they differ by timing.
        #expect(try f.detectionCaughtUp())
        let range = ["--from", "2020-01-01T00:00:00Z", "--to", "2025-01-01T00:00:00Z"]
        let remote = try Subprocess.kubetrail(["report", "--server", server.baseURL, "--token-file", f.dir.path("query.tokens")] + range)
        let local = try Subprocess.kubetrail(["report", "--db", f.db] + range)
        #expect(remote.status == 0 && local.status == 0, "\(remote.stderr) \(local.stderr)")
        // Everything but the source line and the integrity section (only a local store has the chain).
        func body(_ s: String) -> String { String(s[s.range(of: "## Activity")!.lowerBound...]) }
        #expect(body(remote.stdout) == body(local.stdout))
        #expect(remote.stdout.contains("| Audit events | 100 from") && remote.stdout.contains("Not checked: the report was made from an aggregator"))
    }

    @Test func onlyTheQueryRoleExportsAndNothingIsWritten() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        func export(_ token: String, _ extra: [String] = [], out: String) throws -> ProcessResult {
            let file = try f.dir.write("t-\(out)", token + "\n")
            return try Subprocess.kubetrail(
                ["export", "--table", "kubernetes_audit_logs", "--out", f.dir.path(out), "--server", server.baseURL, "--token-file", file] + extra)
        }
        let wrong = try export("not-a-token", out: "a")
        #expect(wrong.status == 1 && wrong.stderr.contains("refused the export (401)"), "\(wrong.stderr)")
        let ingestRole = try export(f.ingestToken, out: "b")
        #expect(ingestRole.status == 1 && ingestRole.stderr.contains("refused the export"), "\(ingestRole.stderr)")
        let write = try export(f.queryToken, ["--where", "1=1 UNION SELECT * FROM kubernetes_audit_logs; DELETE FROM kubernetes_audit_logs"], out: "c")
        #expect(write.status == 1 && write.stderr.contains("no ';'"), "\(write.stderr)")
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
        // Past the client's check, the server refuses it too, and a condition closing its parenthesis.
        for condition in ["1=1; DELETE FROM kubernetes_audit_logs", "1=1) UNION ALL SELECT * FROM kubetrail_audit_chain WHERE (1=1"] {
            let encoded = condition.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let r = try Curl.request(
                server.baseURL + "/v1/export?table=kubernetes_audit_logs&where=" + encoded, method: "GET",
                headers: ["Authorization": "Bearer \(f.queryToken)"])
            #expect(r.status == 400 && r.body.contains("where:"), "\(r.status) \(r.body)")
        }
        let sql = try export(f.queryToken, ["--where", "no_such_column = 1"], out: "d")
        #expect(sql.status == 1 && sql.stderr.contains("no_such_column"), "\(sql.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.dir.path("d/manifest.json")))
        let noToken = try Subprocess.kubetrail(["export", "--table", "kubernetes_audit_logs", "--out", f.dir.path("e"), "--server", server.baseURL])
        #expect(noToken.status == 2 && noToken.stderr.contains("--server needs --token-file"))
    }

    /// The stream parser on chunks cut anywhere, and on streams that end early or say why they stopped.
    @Test func rowsStreamSurvivesAnyChunkingAndRefusesATruncatedOne() throws {
        final class Collect: QuerySink {
            var columns: [String] = []
            var rows: [[QueryValue]] = []
            var ended = false
            func begin(columns: [QueryColumn]) { self.columns = columns.map(\.name) }
            func row(_ values: [QueryValue]) { rows.append(values) }
            func end() { ended = true }
        }
        let stream = """
            {"columns":[{"name":"a","type":"TEXT"},{"name":"n","type":"INTEGER"},{"name":"x","type":null}]}
            ["line\\nbreak, \\"quoted\\" €",42,null]
            ["",-7,1.5]
            {"end":true}

            """
        let bytes = Array(stream.utf8)
        for size in [1, 2, 7, 64, bytes.count] {
            let sink = Collect()
            let parser = RowsStreamParser(sink: sink)
            var i = 0
            while i < bytes.count {
                let chunk = Array(bytes[i..<min(i + size, bytes.count)])
                #expect(chunk.withUnsafeBytes { parser.feed($0) })
                i += size
            }
            try parser.finish()
            #expect(sink.columns == ["a", "n", "x"] && sink.ended)
            #expect(sink.rows == [[.text("line\nbreak, \"quoted\" €"), .int(42), .null], [.text(""), .int(-7), .real(1.5)]])
        }
        let cut = RowsStreamParser(sink: Collect())
        _ = Array(stream.utf8.prefix(140)).withUnsafeBytes { cut.feed($0) }
        #expect(throws: ExportError.self) { try cut.finish() }
        let stopped = RowsStreamParser(sink: Collect())
        #expect(
            !Array("{\"columns\":[{\"name\":\"a\",\"type\":null}]}\n[\"x\"]\n{\"error\":\"the query ran longer than its time limit\"}\n".utf8).withUnsafeBytes {
                stopped.feed($0)
            })
        #expect("\(stopped.error!)".contains("the query ran longer than its time limit"))
        // A line that never ends is refused at the limit instead of buffered for ever.
        let endless = RowsStreamParser(sink: Collect(), maxLineBytes: 1000)
        let header = Array("{\"columns\":[{\"name\":\"a\",\"type\":null}]}\n[\"".utf8)
        #expect(header.withUnsafeBytes { endless.feed($0) })
        var refused = false
        for _ in 0..<100 where !refused { refused = !Array(repeating: UInt8(ascii: "x"), count: 64).withUnsafeBytes { endless.feed($0) } }
        #expect(refused && "\(endless.error!)".contains("over 1000 bytes"))
        let wrongWidth = RowsStreamParser(sink: Collect())
        #expect(!Array("{\"columns\":[{\"name\":\"a\",\"type\":null}]}\n[1,2]\n".utf8).withUnsafeBytes { wrongWidth.feed($0) })
    }
}

/// The producer/reader hand-over under a reader that stalls, then comes back.
@Suite struct QueryStreamStallTests {
    @Test func aReaderBackFromAStallGetsAFailureNotAHang() async throws {
        try await DedicatedExecutor.run { try await readerBackFromAStall() }
    }

    func readerBackFromAStall() async throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("kt.db")
        let store = try SQLiteStore(path: db)
        // About 2 MB of output: far more than the queue holds (8 chunks of 64 KiB).
        let sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 20000) SELECT x, printf('%0100d', x) FROM n"
        let stream = QueryStream.start(store: store, sql: sql, format: "rows", limits: .init(), maxBytes: Int.max, stallTimeout: 0.3)
        try await Task.sleep(nanoseconds: 1_000_000_000)  // the reader takes nothing past the timeout
        let outcome = try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                var chunks = 0
                while true {
                    switch await stream.next() {
                    case .chunk: chunks += 1
                    case .failed(let message): return "failed after \(chunks) chunks: \(message)"
                    case .finished: return "finished after \(chunks) chunks"
                    }
                }
            }
            group.addTask {
                try await Task.sleep(nanoseconds: 10_000_000_000)
                return "hung"
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        #expect(outcome.hasPrefix("failed after") && outcome.contains("took nothing"), "\(outcome)")
    }
}

extension QueryStreamStallTests {
    /// A query that works a while before its first row still shows it is alive: the rows
    /// stream sends a blank line (skipped by readers) every keep-alive interval (5 s; 0.1 s here).
    @Test func aSlowQuerySendsKeepAlivesBeforeItsFirstRow() async throws {
        try await DedicatedExecutor.run { try await slowQuerySendsKeepAlives() }
    }

    func slowQuerySendsKeepAlives() async throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("kt.db")
        let store = try SQLiteStore(path: db)
        let sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 10000000) SELECT count(*) FROM n"
        let started = Date()
        let stream = QueryStream.start(store: store, sql: sql, format: "rows", limits: .init(), maxBytes: Int.max, keepAlive: 0.1)
        var keepAlives = 0
        var sawRow = false
        loop: while true {
            switch await stream.next() {
            case .chunk(let c):
                if c == [0x0A] { keepAlives += 1 } else if String(decoding: c, as: UTF8.self).contains("[10000000]") { sawRow = true }
            case .failed(let m): Issue.record("failed: \(m)"); break loop
            case .finished: break loop
            }
        }
        let took = Date().timeIntervalSince(started)
        #expect(sawRow)
        #expect(keepAlives >= 1, "\(took) s without a keep-alive")
    }
}
