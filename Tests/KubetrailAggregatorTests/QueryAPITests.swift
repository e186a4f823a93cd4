import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct QueryAPITests {
    func query(_ server: ServerProcess, _ token: String?, _ sql: String, format: String? = nil) throws -> Curl.Reply {
        var body: [String: Any] = ["sql": sql]
        if let format { body["format"] = format }
        var headers = ["Content-Type": "application/json"]
        if let token { headers["Authorization"] = "Bearer \(token)" }
        return try Curl.request(server.baseURL + "/v1/query", headers: headers, body: try JSONSerialization.data(withJSONObject: body))
    }

    @Test(arguments: TestBackend.allCases) func rolesFormatsErrorsAndRefusedWrites(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start(["--query-max-rows", "50", "--query-timeout", "0.5"])
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        let sql = "SELECT audit_id, response_code, source_ips FROM kubernetes_audit_logs WHERE response_code = 403 ORDER BY audit_id"

        let json = try query(server, f.queryToken, sql)
        #expect(json.status == 200, "\(json.body)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.body.utf8)) as? [[String: Any]])
        #expect(rows.count == 4 && rows.allSatisfy { $0["response_code"] as? Int == 403 && $0["source_ips"] is [String] })

        let jsonl = try query(server, f.queryToken, sql, format: "jsonl")
        #expect(jsonl.body.split(separator: "\n").count == 4)
        let csv = try query(server, f.queryToken, sql, format: "csv")
        #expect(csv.body.hasPrefix("audit_id,response_code,source_ips\n") && csv.body.split(separator: "\n").count == 5)
        let typed = try query(server, f.queryToken, sql, format: "rows")
        let lines = typed.body.split(separator: "\n")
        #expect(lines.first?.contains("\"type\":\"LIST TEXT\"") == true, "\(lines.first ?? "")")
        #expect(lines.last == "{\"end\":true}" && lines.count == 6)

        // Roles: an ingest token cannot query; no token is 401.
        #expect(try query(server, f.ingestToken, sql).status == 403)
        #expect(try query(server, nil, sql).status == 401)

        // The engine's message, with 400.
        let bad = try query(server, f.queryToken, "SELECT nope FROM kubernetes_audit_logs")
        #expect(bad.status == 400 && (bad.json?["error"] as? String ?? "").contains(Engine.noSuchColumn(backend)), "\(bad.body)")
        for attempt in Engine.writes(backend) {
            let r = try query(server, f.queryToken, attempt)
            let message = r.json?["error"] as? String ?? ""
            #expect(r.status == 400 && Engine.refusedWrite(backend, message), "\(attempt): \(r.body)")
        }
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)

        // Limits: a whole JSON answer is refused; a stream ends with an explicit error line.
        let many = "SELECT audit_id FROM kubernetes_audit_logs"
        let refused = try query(server, f.queryToken, many)
        #expect(refused.status == 400 && (refused.json?["error"] as? String ?? "").contains("more than 50 rows"))
        let streamed = try query(server, f.queryToken, many, format: "jsonl")
        #expect(streamed.status == 200)
        #expect(streamed.body.split(separator: "\n").last?.contains("more than 50 rows") == true)
        let slow = try query(server, f.queryToken, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n")
        #expect(slow.status == 400 && (slow.json?["error"] as? String ?? "").contains("time limit"))

        #expect(try query(server, f.queryToken, sql, format: "xml").status == 400)
        let notJSON = try Curl.request(server.baseURL + "/v1/query", headers: ["Authorization": "Bearer \(f.queryToken)"], body: Data("SELECT 1".utf8))
        #expect(notJSON.status == 400)
    }
}

@Suite(.serialized) struct RemoteQueryTests {
    @Test(arguments: TestBackend.allCases) func remoteOutputMatchesLocalOutputInEveryFormat(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        let tokenFile = f.dir.path("query.tokens")
        let sql =
            "SELECT stage_timestamp, user_name, verb, response_code, source_ips, annotations FROM kubernetes_audit_logs WHERE response_code >= 400 ORDER BY stage_timestamp DESC, audit_id"
        for format in ["table", "csv", "json", "jsonl", "line"] {
            let remote = try Subprocess.kubetrail(["query", "--server", server.baseURL, "--token-file", tokenFile, "--output", format, sql])
            let local = try Subprocess.kubetrail(["query", "--db", f.db, "--output", format, sql])
            #expect(remote.status == 0, "\(remote.stderr)")
            #expect(remote.stdout == local.stdout, "format \(format)")
            #expect(remote.stdout.count > 200)
        }
        let wrong = try Subprocess.kubetrail(["query", "--server", server.baseURL, "--token-file", f.dir.path("ingest.tokens"), "SELECT 1"])
        #expect(wrong.status == 1 && wrong.stderr.contains("may not query"), "\(wrong.stderr)")
        let sqlError = try Subprocess.kubetrail(["query", "--server", server.baseURL, "--token-file", tokenFile, "SELECT nope"])
        #expect(sqlError.status == 1 && sqlError.stderr.hasPrefix("Error: ") && sqlError.stderr.contains(Engine.noSuchColumn(backend)), "\(sqlError.stderr)")
        let down = try Subprocess.kubetrail(["query", "--server", "http://127.0.0.1:9", "--token-file", tokenFile, "SELECT 1"])
        #expect(down.status == 1 && down.stderr.contains("cannot reach"))
    }
}

/// What each engine says about the same bad SQL: the engine's own words reach the user.
enum Engine {
    static func noSuchColumn(_ backend: TestBackend) -> String {
        backend == .sqlite ? "no such column: nope" : "column \"nope\" does not exist"
    }

    /// Writes a query must not do, in each engine's dialect.
    static func writes(_ backend: TestBackend) -> [String] {
        switch backend {
        case .sqlite:
            [
                "DELETE FROM kubernetes_audit_logs", "ATTACH ':memory:' AS m", "PRAGMA journal_mode = DELETE",
                "SELECT load_extension('x')", "CREATE TABLE t (a)"
            ]
        case .postgres:
            [
                "DELETE FROM kubernetes_audit_logs", "COMMIT; DELETE FROM kubernetes_audit_logs", "SET TRANSACTION READ WRITE",
                "CREATE TABLE t (a int)", "SELECT nextval('kubetrail_audit_chain_seq_seq')", "COPY kubernetes_events FROM STDIN"
            ]
        }
    }

    static func refusedWrite(_ backend: TestBackend, _ message: String) -> Bool {
        switch backend {
        // The audit table is a view of kubetrail_audit_rows: SQLite refuses the write before the authorizer is asked.
        case .sqlite: message.contains("not authorized") || message == "cannot modify kubernetes_audit_logs because it is a view"
        // One statement per query, in a transaction begun read-only: PostgreSQL refuses the rest.
        case .postgres: ["read-only transaction", "multiple commands", "read-write mode must be set", "COPY is not run"].contains { message.contains($0) }
        }
    }
}
