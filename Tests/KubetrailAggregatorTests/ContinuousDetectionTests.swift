import Foundation
import Testing
import TestSupport

/// Continuous detection in a real aggregator: every committed audit row evaluated, findings
/// stored in `kubernetes_detections` and sent to real HTTP receivers on 127.0.0.1 (a webhook and
/// Alertmanager's API) — once each, across a kill -9 between commit and evaluation, and after a
/// sink that was down for a minute comes back, with ingest answering all the while.
@Suite struct ContinuousDetectionTests {
    /// `scripts/alert-receiver.py`: records each POST; answers 503 while `down` exists.
    final class Receiver {
        let process = Process()
        let port: Int
        let record: String
        let down: String

        init(dir: TemporaryDirectory, down: Bool = false) throws {
            record = dir.path("received-\(UUID().uuidString.prefix(6)).jsonl")
            self.down = dir.path("down-\(UUID().uuidString.prefix(6))")
            if down { _ = FileManager.default.createFile(atPath: self.down, contents: nil) }
            port = try PythonServer.start(
                process,
                arguments: [
                    Fixtures.repositoryRoot.appendingPathComponent("scripts/alert-receiver.py").path,
                    "--record", record, "--down", self.down
                ])
        }

        deinit { process.terminate() }

        var url: String { "http://127.0.0.1:\(port)" }
        func up() { try? FileManager.default.removeItem(atPath: down) }

        var posts: [[String: Any]] {
            guard let text = try? String(contentsOfFile: record, encoding: .utf8) else { return [] }
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }

        /// Finding ids received at the webhook path, in order, repeats kept.
        var webhookIDs: [String] {
            posts.filter { $0["path"] as? String == "/hooks/kubetrail" }.flatMap { post -> [String] in
                ((post["body"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []).compactMap { $0["finding_id"] as? String }
            }
        }

        /// Finding ids received as Alertmanager alerts (their `finding_id` label), repeats kept.
        var alertmanagerIDs: [String] {
            posts.filter { $0["path"] as? String == "/api/v2/alerts" }.flatMap { post -> [String] in
                (post["body"] as? [[String: Any]] ?? []).compactMap { ($0["labels"] as? [String: Any])?["finding_id"] as? String }
            }
        }
    }

    static func config(
        _ f: AggregatorFixture, _ receiver: Receiver, extra: String = "", detectionInterval: String = "0.2", name: String = "aggregator.tpc"
    ) throws -> String {
        let token = try f.dir.write("sink.token", "sink-secret\n")
        return try f.dir.write(
            name,
            """
            aggregator {
              detection {
                interval = \(detectionInterval)
                start    = "beginning"
              }
              alert "webhook" "siem" {
                url               = "\(receiver.url)/hooks/kubetrail"
                bearer_token_file = "\(token)"
                min_severity      = "low"
                batch_size        = 7
              }
              alert "alertmanager" "oncall" {
                url          = "\(receiver.url)"
                min_severity = "medium"
              }
              \(extra)
            }
            """)
    }

    /// The stored findings: (id, severity).
    static func stored(_ f: AggregatorFixture) throws -> [(id: String, severity: String)] {
        let r = try Subprocess.kubetrail(["query", "--db", f.db, "--output", "csv", "SELECT tp_id, severity FROM kubernetes_detections ORDER BY detection_seq"])
        return r.stdout.split(separator: "\n").dropFirst().map { line in
            let parts = line.split(separator: ",").map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
    }

    static func waitUntil(_ seconds: Double, _ done: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try done() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return try done()
    }

    static let ranked = ["informational", "low", "medium", "high", "critical"]
    static func atLeast(_ s: String, _ min: String) -> Bool { (ranked.firstIndex(of: s) ?? 0) >= (ranked.firstIndex(of: min) ?? 0) }

    @Test(arguments: TestBackend.allCases) func everyCommittedRowIsEvaluatedAndEachFindingSentOnce(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let receiver = try Receiver(dir: f.dir)
        let server = try f.start(["--config", try Self.config(f, receiver)])
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)

        // The OpenShift log: kube:admin's exec into a pod, 403s, kube-system service account activity.
        #expect(Self.waitUntil(30) { (try? Self.stored(f).count) ?? 0 > 0 })
        let expectedWebhook = try Self.stored(f).filter { Self.atLeast($0.severity, "low") }.map(\.id)
        let expectedAlertmanager = try Self.stored(f).filter { Self.atLeast($0.severity, "medium") }.map(\.id)
        #expect(!expectedAlertmanager.isEmpty)
        #expect(Self.waitUntil(30) { receiver.webhookIDs.count >= expectedWebhook.count && receiver.alertmanagerIDs.count >= expectedAlertmanager.count })
        Thread.sleep(forTimeInterval: 1)
        #expect(receiver.webhookIDs == expectedWebhook, "in commit order, each once")
        #expect(receiver.alertmanagerIDs.sorted() == expectedAlertmanager.sorted())
        // Grouped (7 per request), with the sink's token.
        let webhookPosts = receiver.posts.filter { $0["path"] as? String == "/hooks/kubetrail" }
        #expect(webhookPosts.count == (expectedWebhook.count + 6) / 7 || webhookPosts.count > 1)
        #expect(webhookPosts.allSatisfy { $0["authorization"] as? String == "Bearer sink-secret" })
        let exec = receiver.posts.flatMap { ($0["body"] as? [String: Any])?["findings"] as? [[String: Any]] ?? [] }
            .first { $0["rule_id"] as? String == "a1b0ca4e-7835-413e-8471-3ff2b8a66be6" }
        #expect(exec?["user_name"] as? String == "kube:admin" && exec?["rule_author"] as? String == "Leo Tsaousis (@laripping)", "\(exec ?? [:])")
        #expect(exec?["cluster"] as? String == "test" && (exec?["mitre"] as? [String])?.contains("T1609") == true)

        // The table is queryable beside the audit rows it points at.
        let joined = try f.count("SELECT count(*) FROM kubernetes_detections d JOIN kubernetes_audit_logs a ON a.tp_id = d.audit_row_id")
        #expect(joined == expectedWebhook.count + (try Self.stored(f).filter { !Self.atLeast($0.severity, "low") }.count))

        // In the compliance report, and exported like any table.
        let total = try Self.stored(f).count
        let report = try Subprocess.kubetrail(["report", "--db", f.db, "--from", "2023-06-01T00:00:00Z", "--to", "2023-07-01T00:00:00Z"])
        #expect(
            report.status == 0 && report.stdout.contains("## Detections")
                && report.stdout.contains("(`kubernetes_detections`) on audit events of the period: \(total) ("),
            "\(report.stdout.prefix(3000)) \(report.stderr)")
        #expect(report.stdout.contains("| Potential Remote Command Execution In Pod Container | medium |"))
        let html = try Subprocess.kubetrail(["report", "--db", f.db, "--from", "2023-06-01T00:00:00Z", "--to", "2023-07-01T00:00:00Z", "--format", "html"])
        #expect(html.stdout.contains("<h2 id=\"detections\">Detections</h2>"))
        let export = try Subprocess.kubetrail([
            "export", "--db", f.db, "--table", "kubernetes_detections", "--format", "jsonl", "--out", f.dir.path("findings"),
            "--from", "2023-06-01T00:00:00Z"
        ])
        #expect(export.status == 0 && export.stdout.contains("Exported \(total) rows of kubernetes_detections"), "\(export.stdout) \(export.stderr)")

        // The same batch again is a duplicate: no new finding, nothing sent again.
        #expect(try f.ingest(server, file: f.dir.path("b.z")).status == 200)
        Thread.sleep(forTimeInterval: 2)
        #expect(receiver.webhookIDs.count == expectedWebhook.count)
    }

    @Test(arguments: TestBackend.allCases) func aKillBetweenCommitAndEvaluationNeitherLosesNorRepeats(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let receiver = try Receiver(dir: f.dir)
        let config = try Self.config(f, receiver)
        let batch = try f.write("b.z", AggregatorFixture.fixtureBatch().deflated())
        // Killed when its reply comes, right after the batch's commit: before any evaluation
        // (an hour apart in this run), and before the agent sees the reply.
        let crashing = try f.start(["--config", try Self.config(f, receiver, detectionInterval: "\"1h\"", name: "crashing.tpc")])
        let proxy = try ReplyWithholdingProxy(upstreamPort: crashing.port) { crashing.kill() }
        #expect((try? f.ingest("http://127.0.0.1:\(proxy.port)", file: batch))?.status != 200)
        #expect(!crashing.process.isRunning)
        #expect(try f.count("SELECT count(*) FROM kubernetes_detections") == 0)
        #expect(try f.count("SELECT count(*) FROM kubernetes_audit_logs") == 100)
        let server = try f.start(["--config", config])
        defer { server.stop() }
        // The agent sends again (it had no reply): a duplicate, acknowledged.
        #expect(try f.ingest(server, file: batch).status == 200)
        #expect(Self.waitUntil(30) { (try? Self.stored(f).count) ?? 0 > 0 })
        let expected = try Self.stored(f).filter { Self.atLeast($0.severity, "low") }.map(\.id)
        #expect(Self.waitUntil(30) { receiver.webhookIDs.count >= expected.count })
        // A second kill once the sink's cursor is saved (a kill between the sink's answer and
        // that save sends the group again: the finding ids are there to deduplicate on).
        #expect(
            Self.waitUntil(10) {
                (try? f.count("SELECT CAST(value AS INTEGER) FROM kubetrail_cursors WHERE name = 'alerts:webhook:siem'"))
                    == (try? f.count("SELECT max(detection_seq) FROM kubernetes_detections"))
            })
        server.kill()
        let again = try f.start(["--config", config])
        defer { again.stop() }
        Thread.sleep(forTimeInterval: 3)
        #expect(receiver.webhookIDs == expected)
        #expect(try Self.stored(f).map(\.id).count == Set(try Self.stored(f).map(\.id)).count)
    }

    @Test(arguments: [TestBackend.sqlite]) func aSinkDownForAMinuteGetsEverythingWhenBackAndIngestGoesOn(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let receiver = try Receiver(dir: f.dir, down: true)
        let server = try f.start(["--config", try Self.config(f, receiver)])
        defer { server.stop() }
        let started = Date()
        var copy = 0
        var acknowledged = 0
        // A minute of ingest while the sink answers 503: every batch acknowledged.
        while Date().timeIntervalSince(started) < 60 {
            copy += 1
            let file = try f.write("b\(copy).z", AggregatorFixture.fixtureBatch(auditCopy: copy).deflated())
            if try f.ingest(server, file: file).status == 200 { acknowledged += 1 }
            Thread.sleep(forTimeInterval: 2)
        }
        #expect(acknowledged == copy)
        #expect(receiver.posts.isEmpty)
        let expected = try Self.stored(f).filter { Self.atLeast($0.severity, "low") }.map(\.id)
        #expect(expected.count >= copy, "each batch's exec and 403s are findings")
        receiver.up()
        // The dispatcher retries at most 30 s apart.
        #expect(Self.waitUntil(45) { receiver.webhookIDs.count >= expected.count })
        Thread.sleep(forTimeInterval: 1)
        #expect(receiver.webhookIDs == expected)
    }

    @Test func badDetectionAndAlertBlocksAreErrorsNamingTheLine() throws {
        let f = try AggregatorFixture(.sqlite)
        for (block, message) in [
            ("detection {\n  start = \"yesterday\"\n}", ":3: start must be \"now\""),
            ("alert \"pagerduty\" \"p\" {\n  url = \"http://x\"\n}", ":2: an alert block is alert \"alertmanager\""),
            ("alert \"webhook\" \"w\" {\n  url = \"ftp://x\"\n}", ":3: url must be an http:// or https:// URL"),
            ("alert \"webhook\" \"w\" {\n  url = \"http://x\"\n  min_severity = \"urgent\"\n}", ":4: min_severity must be"),
            ("alert \"webhook\" \"w\" {\n  url = \"http://x\"\n  colour = 1\n}", ":4: unknown option colour")
        ] {
            let path = try f.dir.write("bad.tpc", "aggregator {\n" + block + "\n}\n")
            let r = try Subprocess.kubetrail(["aggregator", "--config", path] + f.serverArguments)
            #expect(r.status == 2 && r.stderr.contains(path + message), "\(message): \(r.stderr)")
        }
        let rules = try f.dir.write(
            "rules/bad.yml", "title: t\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  s:\n    verb|base64: x\n  condition: s\n")
        let r = try Subprocess.kubetrail(["aggregator", "--detection-rules", rules] + f.serverArguments)
        #expect(r.status == 2 && r.stderr.contains("bad.yml:5: base64: is not a modifier"), "\(r.stderr)")
    }
}
