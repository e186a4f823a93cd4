import Foundation
import KubetrailCore
import Testing
import TestSupport

/// PostgreSQL going away under a running aggregator: batches are answered 503 (the agent
/// re-sends), the aggregator reconnects when the server is back, and nothing acknowledged is
/// lost or stored twice.
@Suite(.serialized) struct PostgresOutageTests {
    @Test func anOutageIsAnswered503AndTheAggregatorReconnects() throws {
        let pg = try TestPostgres()
        let f = try AggregatorFixture(.postgres, server: pg)
        let server = try f.start()
        defer { server.stop() }
        let batches = try (1...3).map { try f.write("b\($0).z", AggregatorFixture.fixtureBatch(auditCopy: $0).deflated()) }
        #expect(try f.ingest(server, file: batches[0]).status == 200)
        pg.stop()   // as a crash: immediate, no goodbye to clients
        let refused = try f.ingest(server, file: batches[1])
        #expect(refused.status == 503 && refused.body.contains("retry later"), "\(refused.status) \(refused.body)")
        #expect(!refused.body.contains(pg.password))
        // Still down: a fresh connection is refused, answered the same way.
        #expect(try f.ingest(server, file: batches[1]).status == 503)
        try pg.start()
        let resent = try f.ingest(server, file: batches[1])
        #expect(resent.status == 200 && resent.json?["duplicate"] as? Bool == false, "\(resent.body)")
        #expect(try f.ingest(server, file: batches[2]).status == 200)
        #expect(try f.ingest(server, file: batches[0]).json?["duplicate"] as? Bool == true)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 300)
        #expect(try f.count("SELECT COUNT(*) FROM kubetrail_audit_chain") == 300)
        #expect(try f.count("SELECT COUNT(*) FROM kubetrail_ingest_batches") == 3)
    }

    /// Started while the database is down: it serves, is not ready, answers 503, and takes
    /// batches once the database is up (a Deployment's pods may start before the database).
    @Test func startedBeforeTheDatabaseItWaitsForIt() throws {
        let pg = try TestPostgres()
        let f = try AggregatorFixture(.postgres, server: pg)
        pg.stop()
        let server = try f.start()
        defer { server.stop() }
        let file = try f.write("b.z", AggregatorFixture.fixtureBatch().deflated())
        #expect(try Curl.request(server.baseURL + "/readyz", method: "GET").status == 503)
        #expect(try f.ingest(server, file: file).status == 503)
        try pg.start()
        #expect(try Curl.request(server.baseURL + "/readyz", method: "GET").status == 200)
        #expect(try f.ingest(server, file: file).status == 200)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
    }

    /// A database that takes no writes (a standby, or `default_transaction_read_only`): 503.
    @Test func aReadOnlyDatabaseIsAnswered503() throws {
        let pg = try TestPostgres()
        let f = try AggregatorFixture(.postgres, server: pg)
        let server = try f.start()
        defer { server.stop() }
        let setReadOnly = try Subprocess.kubetrail(["query", "--db", f.db, "SELECT 1"])
        #expect(setReadOnly.status == 0)
        try pg.run("psql", ["-h", "127.0.0.1", "-p", String(pg.port), "-U", TestPostgres.user, "-d", "postgres", "-c",
                            "ALTER DATABASE postgres SET default_transaction_read_only = on"], environment: ["PGPASSWORD": pg.password])
        // The aggregator's writer connection predates the setting; a restart picks it up.
        server.stop()
        let again = try f.start()
        defer { again.stop() }
        let reply = try f.ingest(again, file: try f.write("b.z", AggregatorFixture.fixtureBatch().deflated()))
        #expect(reply.status == 503 && reply.body.contains("read-only"), "\(reply.status) \(reply.body)")
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 0)
        // Not ready: a Service sends agents to a replica that can commit.
        #expect(try Curl.request(again.baseURL + "/readyz", method: "GET").status == 503)
        #expect(try Curl.request(again.baseURL + "/healthz", method: "GET").status == 200)
    }
}
