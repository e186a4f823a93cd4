import Foundation
import Testing
import TestSupport

/// `kubetrail detect --server`: the aggregator says which SQL engine it runs, the client writes
/// the rules' SQL for it, and the findings are those of a local run on the same store.
@Suite struct RemoteDetectTests {
    @Test(arguments: TestBackend.allCases) func remoteFindingsAreTheLocalOnes(backend: TestBackend) throws {
        let f = try AggregatorFixture(backend)
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)

        let headers = f.dir.path("headers")
        let reply = try Curl.request(
            server.baseURL + "/v1/query", headers: ["Authorization": "Bearer \(f.queryToken)", "Content-Type": "application/json"],
            body: Data(#"{"sql":"SELECT 1","format":"rows"}"#.utf8), extra: ["-D", headers])
        #expect(reply.status == 200)
        #expect(try String(contentsOfFile: headers, encoding: .utf8).lowercased().contains("kubetrail-sql-engine: \(backend.rawValue)"))

        let range = ["--from", "2020-01-01T00:00:00Z", "-o", "jsonl"]
        let remote = try Subprocess.kubetrail(["detect", "--server", server.baseURL, "--token-file", f.dir.path("query.tokens")] + range)
        let local = try Subprocess.kubetrail(["detect", "--db", f.db] + range)
        #expect(remote.status == 0 && local.status == 0, "\(remote.stderr) \(local.stderr)")
        #expect(remote.stdout == local.stdout)
        // The OpenShift log holds kube:admin's exec into a pod (the capture itself) and 403s.
        #expect(
            remote.stdout.contains("Potential Remote Command Execution In Pod Container") && remote.stdout.contains("\"kube:admin\""),
            "\(remote.stdout.prefix(2000))")
        #expect(remote.stdout.contains("Kubernetes Unauthorized or Unauthenticated Access"))

        let ingestToken = try f.dir.write("ingest-only", f.ingestToken + "\n")
        let refused = try Subprocess.kubetrail(["detect", "--server", server.baseURL, "--token-file", ingestToken] + range)
        #expect(refused.status == 3 && refused.stderr.contains("refused the query (403)"), "\(refused.stderr)")
        let noToken = try Subprocess.kubetrail(["detect", "--server", server.baseURL] + range)
        #expect(noToken.status == 3 && noToken.stderr.contains("--server needs --token-file"), "\(noToken.stderr)")
    }
}
