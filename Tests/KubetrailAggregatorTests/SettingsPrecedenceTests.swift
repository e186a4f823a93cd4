import Foundation
import Testing
import TestSupport

/// The aggregator's settings come from its flag, else `KUBETRAIL_<FLAG>`, else the
/// aggregator block of `--config`, else the default: seen through what a real process enforces.
@Suite struct SettingsPrecedenceTests {
    @Test func theVariableWinsOverTheFileAndTheFlagOverBoth() throws {
        let f = try AggregatorFixture()
        let batch = try f.write("b.z", AggregatorFixture.fixtureBatch().deflated())
        let size = try #require(try FileManager.default.attributesOfItem(atPath: batch)[.size] as? Int)
        let config = try f.write("aggregator.tpc", Array("aggregator {\n  max_body_bytes = \(size * 10)\n}\n".utf8))
        let small = ["KUBETRAIL_MAX_BODY_BYTES": "\(size / 2)"]

        let fromFile = try f.start(["--config", config])
        #expect(try f.ingest(fromFile, file: batch).status == 200)
        fromFile.stop()
        let fromVariable = try f.start(["--config", config], environment: small)
        let refused = try f.ingest(fromVariable, file: batch)
        #expect(refused.status == 413, "\(refused.body)")
        fromVariable.stop()
        let fromFlag = try f.start(["--config", config, "--max-body-bytes", "\(size * 10)"], environment: small)
        #expect(try f.ingest(fromFlag, file: batch).status == 200)
        fromFlag.stop()
    }

    @Test func aBadValueInAVariableIsAUsageErrorNamingIt() throws {
        let f = try AggregatorFixture()
        for (name, value, message) in [
            ("KUBETRAIL_MAX_BODY_BYTES", "lots", "KUBETRAIL_MAX_BODY_BYTES must be a whole number (0 or more), got lots"),
            // A unit slip must not empty a table: retention is a second or more.
            ("KUBETRAIL_RETENTION", "kubernetes_pod_logs=10ms", "KUBETRAIL_RETENTION must be TABLE=DURATION"),
            ("KUBETRAIL_FOLLOWER_STALL_TIMEOUT", "0s", "KUBETRAIL_FOLLOWER_STALL_TIMEOUT must be longer than zero"),
            ("KUBETRAIL_EXPORT_TIMEOUT", "an hour", "KUBETRAIL_EXPORT_TIMEOUT must be")
        ] {
            let r = try Subprocess.kubetrail(["aggregator", "--listen", "127.0.0.1:0"] + f.serverArguments, environment: [name: value])
            #expect(r.status == 2 && r.stderr.contains(message), "\(name): \(r.status) \(r.stderr)")
        }
    }

    @Test func retentionOfLessThanASecondIsRefusedWhereverItIsWritten() throws {
        let f = try AggregatorFixture()
        let flag = try Subprocess.kubetrail(["aggregator", "--listen", "127.0.0.1:0", "--retention", "kubernetes_pod_logs=10ms"] + f.serverArguments)
        #expect(flag.status == 2 && flag.stderr.contains("--retention must be TABLE=DURATION"), "\(flag.stderr)")
        let config = try f.write("r.tpc", Array("aggregator {\n  retention {\n    kubernetes_pod_logs = \"10ms\"\n  }\n}\n".utf8))
        let file = try Subprocess.kubetrail(["aggregator", "--listen", "127.0.0.1:0", "--config", config] + f.serverArguments)
        #expect(file.status == 2 && file.stderr.contains(":3: retention of kubernetes_pod_logs must be a second or more"), "\(file.stderr)")
    }

    @Test func timeoutsTakeDurations() throws {
        let f = try AggregatorFixture()
        // A timeout too long for an Int is a day, not a crash.
        let server = try f.start(
            ["--query-timeout", "1m", "--idle-timeout", "1e300", "--retention-interval", "500ms"], environment: ["KUBETRAIL_REQUEST_TIMEOUT": "2m"])
        defer { server.stop() }
        #expect(try Curl.request(server.baseURL + "/healthz", method: "GET").status == 200)
    }
}
