import Foundation
import KubetrailCore
import Testing
import TestSupport

@Suite(.serialized) struct IngestTests {
    /// Two aggregators on one PostgreSQL database behind one Service: the same batches sent to
    /// both at once (an agent re-sending to the other replica) are stored once, in one chain.
    @Test func twoAggregatorsOnOnePostgresStoreEachBatchOnce() throws {
        let f = try AggregatorFixture(.postgres)
        let a = try f.start(log: f.dir.path("a.log")), b = try f.start(log: f.dir.path("b.log"))
        defer { a.stop(); b.stop() }
        var files: [String] = []
        for copy in 1...4 { files.append(try f.write("b\(copy).z", AggregatorFixture.fixtureBatch(auditCopy: copy).deflated())) }
        let replies = LockedArray<Curl.Reply>()
        let sends = files + files, half = files.count
        DispatchQueue.concurrentPerform(iterations: sends.count) { i in
            if let r = try? f.ingest(i < half ? a : b, file: sends[i]) { replies.append(r) }
        }
        #expect(replies.values.count == 8 && replies.values.allSatisfy { $0.status == 200 }, "\(replies.values.map(\.body))")
        #expect(replies.values.filter { $0.json?["duplicate"] as? Bool == true }.count == 4)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 400)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_pod_logs") == 20)
        #expect(try f.count("SELECT COUNT(*) FROM kubetrail_audit_chain") == 400)
        let verify = try Subprocess.kubetrail(["verify", "--db", f.db, "--skip-signatures"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        // The logs name the database, never its password.
        let password = try SharedPostgres.get().password
        for log in ["a.log", "b.log"] {
            let text = try String(contentsOfFile: f.dir.path(log), encoding: .utf8)
            #expect(text.contains("postgres://kubetrail@127.0.0.1") && !text.contains(password), "\(text)")
        }
        // Without a shared signing key an aggregator on PostgreSQL does not start.
        let unsigned = try Subprocess.kubetrail(["aggregator", "--listen", "127.0.0.1:0", "--db", f.db, "--ingest-token-file", f.dir.path("ingest.tokens")])
        #expect(unsigned.status != 0 && unsigned.stderr.contains("--digest-signing-key"), "\(unsigned.stderr)")
    }

    @Test(arguments: TestBackend.allCases) func fixtureBatchRoundTripsIntoTheTablesAndIsStoredOnce(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        let encoder = try AggregatorFixture.fixtureBatch()
        let file = try f.write("batch.z", encoder.deflated())
        let reply = try f.ingest(server, file: file)
        #expect(reply.status == 200, "\(reply.body)")
        let json = try #require(reply.json)
        #expect(json["batch_id"] as? String == encoder.batchID)
        #expect(json["duplicate"] as? Bool == false)
        #expect((json["stored"] as? [String: Int]) == ["kubernetes_audit_logs": 100, "kubernetes_pod_logs": 5])
        #expect(json["rejected"] as? Int == 0)
        #expect(
            try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs WHERE tp_source_type = 'audit_file' AND tp_source_name = 'cp-1' AND cluster_name = 'test'")
                == 100)
        #expect(
            try f.count(
                "SELECT COUNT(*) FROM kubernetes_pod_logs WHERE namespace = 'default' AND pod_name = 'web-1' AND container_name = 'app' AND node_name = 'cp-1'")
                == 5)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_pod_logs WHERE log_message LIKE '%(part of log)%(end of log)%'") == 1)

        let again = try f.ingest(server, file: file)
        #expect(again.status == 200)
        #expect(again.json?["duplicate"] as? Bool == true)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
        #expect(try f.count("SELECT COUNT(*) FROM kubetrail_ingest_batches") == 1)
    }

    @Test(arguments: TestBackend.allCases) func killedBetweenCommitAndReplyThenResentIsStoredOnce(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let file = try f.write("batch.z", AggregatorFixture.fixtureBatch().deflated())
        let crashing = try f.start()
        // The aggregator is killed when its reply comes, which it sends only after the commit.
        let proxy = try ReplyWithholdingProxy(upstreamPort: crashing.port) { crashing.kill() }
        let lost = try f.ingest("http://127.0.0.1:\(proxy.port)", file: file)
        #expect(lost.status != 200)  // the agent never saw an acknowledgement…
        #expect(!crashing.process.isRunning)
        let server = try f.start()
        defer { server.stop() }
        let resent = try f.ingest(server, file: file)  // …so it sends the batch again
        #expect(resent.status == 200)
        #expect(resent.json?["duplicate"] as? Bool == true)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_pod_logs") == 5)
    }

    @Test(arguments: TestBackend.allCases) func concurrentClientsShareCommitsAndDuplicatesCollapse(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        var files: [String] = []
        for copy in 1...6 { files.append(try f.write("b\(copy).z", AggregatorFixture.fixtureBatch(auditCopy: copy).deflated())) }
        files += [files[0], files[1]]  // two agents resending the same batches
        let replies = LockedArray<Curl.Reply>()
        let all8 = files
        DispatchQueue.concurrentPerform(iterations: all8.count) { i in
            if let r = try? f.ingest(server, file: all8[i]) { replies.append(r) }
        }
        let all = replies.values
        #expect(all.count == 8)
        #expect(all.allSatisfy { $0.status == 200 })
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 600)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_pod_logs") == 30)
        #expect(try f.count("SELECT COUNT(*) FROM kubetrail_ingest_batches") == 6)
    }

    @Test func malformedRecordsAreReportedAndTheRestStored() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        var encoder = try AggregatorFixture.fixtureBatch(auditLimit: 3)
        let audit = WireFormat.Source(kind: .auditLine, path: "/var/log/kube-apiserver/audit.log", identity: "2049:100:copy0")
        encoder.append(audit, offset: 999_000, bytes: Array("{\"kind\":\"Event\",\"auditID\":\"x\"".utf8))
        encoder.append(audit, offset: 999_100, bytes: [0xFF, 0xFE, 0x00])
        let reply = try f.ingest(server, file: f.write("mixed.z", encoder.deflated()))
        #expect(reply.status == 200)
        #expect(reply.json?["rejected"] as? Int == 2)
        let rejections = reply.json?["rejections"] as? [[String: Any]] ?? []
        #expect(rejections.map { $0["offset"] as? Int } == [999_000, 999_100])
        #expect(rejections.allSatisfy { ($0["path"] as? String) == "/var/log/kube-apiserver/audit.log" })
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 3)
    }

    @Test func metricsHealthAndReadiness() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        _ = try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated()))
        #expect(try Curl.request(server.baseURL + "/healthz", method: "GET").status == 200)
        #expect(try Curl.request(server.baseURL + "/readyz", method: "GET").status == 200)
        let metrics = try Curl.request(server.baseURL + "/metrics", method: "GET")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("kubetrail_batches_total{result=\"stored\"} 1"), "\(metrics.body)")
        #expect(metrics.body.contains("kubetrail_rows_total{table=\"kubernetes_audit_logs\"} 100"))
        #expect(metrics.body.contains("kubetrail_commit_duration_seconds"))
        #expect(!metrics.body.contains(f.ingestToken))
    }

    @Test func rotatedTokenFileIsPickedUpWithoutRestart() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        let file = try f.write("b.z", AggregatorFixture.fixtureBatch().deflated())
        try f.dir.write("ingest.tokens", "rotated-token-0123456789abcdef0123456789\n")
        Thread.sleep(forTimeInterval: 1.2)
        #expect(try f.ingest(server, file: file).status == 401)
        #expect(try f.ingest(server, file: file, token: "rotated-token-0123456789abcdef0123456789").status == 200)
    }

    @Test func sigtermStopsCleanly() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        _ = try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated()))
        server.stop()
        #expect(server.process.terminationStatus == 0)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
    }
}
