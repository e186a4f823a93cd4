import Foundation
import Testing
import TestSupport

/// The aggregator's query endpoints on PostgreSQL as a role the database lets only read
/// (`--query-db`, made by `kubetrail grant-reader`), while ingest writes as the store's role.
@Suite(.serialized) struct PostgresQueryRoleTests {
    func query(_ server: ServerProcess, _ f: AggregatorFixture, _ sql: String) throws -> Curl.Reply {
        try Curl.request(
            server.baseURL + "/v1/query", headers: ["Authorization": "Bearer \(f.queryToken)", "Content-Type": "application/json"],
            body: try JSONSerialization.data(withJSONObject: ["sql": sql, "format": "csv"]))
    }

    @Test func queriesRunAsTheReaderRoleAndIngestAsTheWriter() throws {
        let f = try AggregatorFixture(.postgres)
        let pg = try SharedPostgres.get()
        // The schema first (the aggregator makes it), then the role that may read it.
        try f.start().stop()
        let role = "reader_" + UUID().uuidString.prefix(8).lowercased()
        let rolePassword = "rp-" + UUID().uuidString
        let passwordFile = try f.dir.write("reader-password", rolePassword + "\n")
        let granted = try Subprocess.kubetrail(["grant-reader", "--db", f.db, "--role", role, "--role-password-file", passwordFile])
        #expect(granted.status == 0, "\(granted.stderr)")
        let database = String(f.db.split(separator: "/").last!)
        let log = f.dir.path("aggregator.log")
        let server = try f.start(["--query-db", "postgres://\(role)@127.0.0.1:\(pg.port)/\(database)", "--query-db-password-file", passwordFile], log: log)
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)

        let who = try query(
            server, f,
            "SELECT current_user AS who, has_table_privilege('kubernetes_audit_logs', 'INSERT') AS may_insert, (SELECT COUNT(*) FROM kubernetes_audit_logs) AS n"
        )
        #expect(who.status == 200 && who.body == "who,may_insert,n\n\(role),0,100\n", "\(who.body)")
        let delete = try query(server, f, "DELETE FROM kubernetes_audit_logs")
        #expect(delete.status == 400, "\(delete.body)")
        // Exports read through the same role.
        let out = f.dir.path("export")
        let export = try Subprocess.kubetrail([
            "export", "--table", "kubernetes_audit_logs", "--from", "2020-01-01T00:00:00Z", "--server", server.baseURL,
            "--token-file", f.dir.path("query.tokens"), "--format", "jsonl", "--out", out
        ])
        #expect(export.status == 0, "\(export.stderr)")
        let exported = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".jsonl") }
            .map { try String(contentsOfFile: out + "/" + $0, encoding: .utf8).split(separator: "\n").count }.reduce(0, +)
        #expect(exported == 100)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
        server.stop()
        let said = try String(contentsOfFile: log, encoding: .utf8)
        #expect(said.contains("queries and exports run on the query database") && said.contains(role), "\(said)")
        #expect(!said.contains(rolePassword) && !said.contains(pg.password))
    }

    /// As the overlay runs it with a Secret that has no reader: the password file's place is
    /// set, the URL is not, and the aggregator starts and says how to get one.
    @Test func withoutAQueryDatabaseTheAggregatorSaysHowToGetOne() throws {
        let f = try AggregatorFixture(.postgres)
        let log = f.dir.path("aggregator.log")
        try f.start(environment: ["KUBETRAIL_QUERY_DB_PASSWORD_FILE": "/etc/kubetrail/postgres-reader/query-password"], log: log).stop()
        let said = try String(contentsOfFile: log, encoding: .utf8)
        #expect(said.contains("give --query-db with a role made by `kubetrail grant-reader`"), "\(said)")
    }

    /// A query database given wrong is said at start, not left for the first query to find.
    @Test func aQueryDatabaseThatCanWriteOrCannotConnectIsSaidAtStart() throws {
        let f = try AggregatorFixture(.postgres)
        let pg = try SharedPostgres.get()
        let owner = f.dir.path("owner.log")
        try f.start(["--query-db", f.db], log: owner).stop()
        let saidOwner = try String(contentsOfFile: owner, encoding: .utf8)
        #expect(saidOwner.contains("the query database's role may write kubetrail's tables"), "\(saidOwner)")
        #expect(!saidOwner.contains(pg.password))

        let wrong = "wrong-\(UUID().uuidString)"
        let file = try f.dir.write("wrong-password", wrong + "\n")
        let log = f.dir.path("wrong.log")
        let database = String(f.db.split(separator: "/").last!)
        let server = try f.start(["--query-db", "postgres://\(TestPostgres.user)@127.0.0.1:\(pg.port)/\(database)", "--query-db-password-file", file], log: log)
        let reply = try query(server, f, "SELECT 1")
        #expect(reply.status != 200 && reply.body.contains("password authentication failed"), "\(reply.status) \(reply.body)")
        // Ingest writes as the owner all the same.
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        server.stop()
        let said = try String(contentsOfFile: log, encoding: .utf8)
        #expect(said.contains("the query database cannot be queried now") && said.contains("password authentication failed"), "\(said)")
        #expect(!said.contains(wrong) && !reply.body.contains(wrong))
    }

    @Test func aQueryDatabaseIsRefusedOnSQLite() throws {
        let f = try AggregatorFixture(.sqlite)
        let r = try Subprocess.kubetrail(["aggregator"] + f.serverArguments + ["--query-db", "postgres://reader@127.0.0.1:5432/kubetrail"])
        #expect(r.status == 2 && r.stderr.contains("--query-db is a postgres:// URL for a PostgreSQL store"), "\(r.stderr)")
        let orphan = try Subprocess.kubetrail(["aggregator"] + f.serverArguments + ["--query-db-password-file", f.dir.path("x")])
        #expect(orphan.status == 2 && orphan.stderr.contains("--query-db-password-file needs --query-db"), "\(orphan.stderr)")
    }
}
