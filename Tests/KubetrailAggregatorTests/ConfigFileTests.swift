import Foundation
import Testing
import TestSupport
import KubetrailAggregator

@Suite(.serialized) struct ConfigFileTests {
    @Test func aggregatorRunsFromAConfigFileAlone() throws {
        let f = try AggregatorFixture()
        let config = try f.dir.write(
            "kubetrail.tpc",
            """
            # kubetrail aggregator
            connection "kubernetes" {
              plugin = "kubernetes"     # other components' blocks are left alone
            }
            aggregator {
              db                = "\(f.db)"
              ingest_token_file = "\(f.dir.path("ingest.tokens"))"
              query_token_file  = "\(f.dir.path("query.tokens"))"
              cluster_name      = "from-file"
              query_max_rows    = 3
              retention_interval = "1h"
              retention {
                kubernetes_events = "30d"
              }
            }
            """)
        let server = try ServerProcess(arguments: ["--config", config])
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs WHERE cluster_name = 'from-file'") == 100)
        let tooMany = try Curl.request(
            server.baseURL + "/v1/query", headers: ["Authorization": "Bearer \(f.queryToken)"],
            body: Data(#"{"sql":"SELECT audit_id FROM kubernetes_audit_logs"}"#.utf8))
        #expect(tooMany.status == 400 && tooMany.body.contains("more than 3 rows"))
    }

    @Test func unknownOptionsAndBadValuesNameFileLineAndOption() throws {
        let f = try AggregatorFixture()
        for (text, expected) in [
            ("aggregator {\n  db = \"x\"\n  colour = \"blue\"\n}", ":3: unknown option colour in the aggregator block"),
            ("aggregator {\n  query_max_rows = \"many\"\n}", ":2: query_max_rows must be a whole number"),
            ("aggregator {\n  retention {\n    kubernetes_nothing = \"1d\"\n  }\n}", ":3: unknown table kubernetes_nothing"),
            ("aggregator {\n  query_timeout = \"soon\"\n}", ":2: query_timeout must be a duration"),
            ("aggregator {\n  listen = \n}", ":2: expected a value")
        ] {
            let path = try f.dir.write("bad.tpc", text)
            let r = try Subprocess.kubetrail(["aggregator", "--config", path])
            #expect(r.status == 2, "\(text)")
            #expect(r.stderr.contains(path + expected), "\(r.stderr)")
        }
    }
}

@Suite struct ReadmeConfigTests {
    @Test func theReadmeExampleIsAValidAggregatorConfiguration() throws {
        let readme = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = readme.components(separatedBy: "```hcl\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
        let block = try #require(blocks.first { $0.hasPrefix("aggregator {") })
        let dir = try TemporaryDirectory()
        let config = try AggregatorConfigFile.load(path: try dir.write("readme.tpc", block))
        #expect(config.listen == "0.0.0.0:8443")
        #expect(config.queryTimeout == 30)
        #expect(config.retention == ["kubernetes_pod_logs": 14 * 86_400, "kubernetes_audit_logs": 400 * 86_400])
        #expect(config.tlsCert == "/etc/kubetrail/tls.crt")
    }
}
