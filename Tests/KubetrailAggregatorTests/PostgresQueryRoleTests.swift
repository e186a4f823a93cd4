import Foundation
import Testing
import TestSupport

/// The aggregator's query endpoints on PostgreSQL as a role the database lets only read
/// (`--query-db`, made by `kubetrail grant-reader`), while ingest writes as the store's role.
@Suite(.serialized) struct PostgresQueryRoleTests {
    func query(_ server: ServerProcess, _ f: AggregatorFixture, _ sql: String) throws -> Curl.Reply {
        try Curl.request(server.baseURL + "/v1/query", headers: ["Authorization": "Bearer \(f.queryToken)", "Content-Type": "application/json"],
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

        let who = try query(server, f, "SELECT current_user AS who, has_table_privilege('kubernetes_audit_logs', 'INSERT') AS may_insert, (SELECT COUNT(*) FROM kubernetes_audit_logs) AS n")
        #expect(who.status == 200 && who.body == "who,may_insert,n\n\(role),0,100\n", "\(who.body)")
        let delete = try query(server, f, "DELETE FROM kubernetes_audit_logs")
        #expect(delete.status == 400, "\(delete.body)")
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
        server.stop()
        let said = try String(contentsOfFile: log, encoding: .utf8)
        #expect(said.contains("queries and exports run on the query database") && said.contains(role), "\(said)")
        #expect(!said.contains(rolePassword) && !said.contains(pg.password))
    }

    @Test func withoutAQueryDatabaseTheAggregatorSaysHowToGetOne() throws {
        let f = try AggregatorFixture(.postgres)
        let log = f.dir.path("aggregator.log")
        try f.start(log: log).stop()
        let said = try String(contentsOfFile: log, encoding: .utf8)
        #expect(said.contains("give --query-db with a role made by `kubetrail grant-reader`"), "\(said)")
    }

    @Test func aQueryDatabaseIsRefusedOnSQLite() throws {
        let f = try AggregatorFixture(.sqlite)
        let r = try Subprocess.kubetrail(["aggregator"] + f.serverArguments + ["--query-db", "postgres://reader@127.0.0.1:5432/kubetrail"])
        #expect(r.status == 2 && r.stderr.contains("--query-db is a postgres:// URL for a PostgreSQL store"), "\(r.stderr)")
        let orphan = try Subprocess.kubetrail(["aggregator"] + f.serverArguments + ["--query-db-password-file", f.dir.path("x")])
        #expect(orphan.status == 2 && orphan.stderr.contains("--query-db-password-file needs --query-db"), "\(orphan.stderr)")
    }
}
