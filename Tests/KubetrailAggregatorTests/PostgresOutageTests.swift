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
        pg.stop()  // as a crash: immediate, no goodbye to clients
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
        try pg.run(
            "psql",
            [
                "-h", "127.0.0.1", "-p", String(pg.port), "-U", TestPostgres.user, "-d", "postgres", "-c",
                "ALTER DATABASE postgres SET default_transaction_read_only = on"
            ], environment: ["PGPASSWORD": pg.password])
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

    /// A wrong password (a Secret not yet rotated everywhere): the aggregator runs, is not
    /// ready, answers 503, and its log says why without the password.
    @Test func aWrongPasswordIsNotReadyAndSaysWhy() throws {
        let pg = try TestPostgres()
        let f = try AggregatorFixture(.postgres, server: pg)
        let arguments = f.serverArguments
        let wrong = "wrong-\(UUID().uuidString)"
        try f.dir.write("db-password", wrong + "\n")
        let log = f.dir.path("aggregator.log")
        let server = try ServerProcess(arguments: arguments, stderrPath: log)
        defer { server.stop() }
        #expect(try Curl.request(server.baseURL + "/readyz", method: "GET").status == 503)
        let reply = try f.ingest(server, file: try f.write("b.z", AggregatorFixture.fixtureBatch().deflated()))
        #expect(reply.status == 503 && reply.body.contains("password authentication failed"), "\(reply.status) \(reply.body)")
        server.stop()
        let said = try String(contentsOfFile: log, encoding: .utf8)
        #expect(said.contains("password authentication failed"), "\(said)")
        #expect(!said.contains(wrong) && !reply.body.contains(wrong) && !said.contains(pg.password))
    }

    /// The connection dropped while a batch is in its transaction (the backend terminated, as
    /// a failover or an idle-killer does): 503, nothing of it stored; the re-send is stored once.
    @Test func aConnectionDroppedMidBatchIsAnswered503AndTheResendStoredOnce() throws {
        let pg = try TestPostgres()
        defer { withExtendedLifetime(pg) {} }
        let f = try AggregatorFixture(.postgres, server: pg)
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b0.z", AggregatorFixture.fixtureBatch(auditCopy: 1).deflated())).status == 200)
        // The next batch's transaction stops once its batch id, audit rows and chain entries
        // are written (its pod log lines not yet), until its backend is terminated.
        try TestBackend.behindTheBack(
            f.db,
            """
            CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
            CREATE TRIGGER hold AFTER INSERT ON kubetrail_audit_chain FOR EACH STATEMENT EXECUTE FUNCTION hold();
            """)
        let batch = try f.write("b1.z", AggregatorFixture.fixtureBatch(auditCopy: 2).deflated())
        let reply = LockedBox<Curl.Reply?>(nil)
        let sent = Thread { reply.set(try? f.ingest(server, file: batch)) }
        sent.start()
        let waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
        let deadline = Date().addingTimeInterval(30)
        while try f.count(waiting) != 1, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try f.count(waiting) == 1)
        // The trigger goes after: dropping it waits for the held transaction's lock.
        try TestBackend.behindTheBack(f.db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
        try TestBackend.behindTheBack(f.db, "DROP TRIGGER hold ON kubetrail_audit_chain")
        while reply.get() == nil, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let dropped = try #require(reply.get())
        #expect(dropped.status == 503 && dropped.body.contains("retry later"), "\(dropped.status) \(dropped.body)")
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
        let resent = try f.ingest(server, file: batch)
        #expect(resent.status == 200 && resent.json?["duplicate"] as? Bool == false, "\(resent.body)")
        #expect(try f.ingest(server, file: batch).json?["duplicate"] as? Bool == true)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 200)
        #expect(try f.count("SELECT COUNT(*) FROM kubetrail_audit_chain") == 200)
        let verify = try Subprocess.kubetrail(["verify", "--db", f.db, "--skip-signatures"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    /// The database's disk full (its tablespace on a small tmpfs): 503 with PostgreSQL's
    /// reason, nothing half-stored; once space is freed the re-sent batch is stored once.
    /// Needs a tmpfs, so root (as CI runs); skipped otherwise.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func aFullDiskOnTheDatabaseSideIsAnswered503() throws {
        let pg = try TestPostgres()
        let disk = try SmallDisk(megabytes: 24, owner: "postgres")
        // The server first: it holds files on the disk until it stops.
        defer { pg.stop(); disk.unmount() }
        try TestBackend.behindTheBack(
            "postgres://\(TestPostgres.user):\(pg.password)@127.0.0.1:\(pg.port)/postgres",
            "CREATE TABLESPACE small LOCATION '\(disk.path)'")
        try TestBackend.behindTheBack(
            "postgres://\(TestPostgres.user):\(pg.password)@127.0.0.1:\(pg.port)/postgres",
            "CREATE DATABASE small TABLESPACE small")
        let f = try AggregatorFixture(.postgres, server: pg, database: "small")
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b0.z", AggregatorFixture.fixtureBatch(auditCopy: 1).deflated())).status == 200)
        try disk.fill()
        let batch = try f.write("b1.z", AggregatorFixture.fixtureBatch(auditCopy: 2).deflated())
        let full = try f.ingest(server, file: batch)
        #expect(full.status == 503 && full.body.contains("No space left on device"), "\(full.status) \(full.body)")
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
        try disk.free()
        let resent = try f.ingest(server, file: batch)
        #expect(resent.status == 200 && resent.json?["duplicate"] as? Bool == false, "\(resent.body)")
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 200)
        let verify = try Subprocess.kubetrail(["verify", "--db", f.db, "--skip-signatures"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}

/// A value two threads hand over.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: Value) { lock.lock(); value = v; lock.unlock() }
}
