import Foundation
import Testing
import TestSupport
import KubetrailAggregator
import KubetrailKube

/// The configuration the manifests ship is one the aggregator accepts, its files are where the
/// StatefulSet mounts them, and the Secrets scripts/make-secrets writes serve real TLS.
@Suite struct ManifestConfigTests {
    @Test func theConfigMapsAggregatorBlockParsesAndPointsIntoTheMounts() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("aggregator.tpc", try Manifests.configMapEntry("aggregator.tpc"))
        let config = try AggregatorConfigFile.load(path: path)
        #expect(config.listen == "0.0.0.0:8443")
        #expect(config.retention["kubernetes_audit_logs"] == Double(90 * 86_400))
        var kube = KubernetesConfig()
        try kube.apply(try Manifests.configMapEntry("aggregator.tpc"), file: path, home: "/nonexistent")
        #expect(kube.connection?.serviceAccount == true && kube.connection?.includeEvents == true)
        #expect(!kube.auditSource.readsThroughAPI)
        let mounts = try Manifests.mountPaths("aggregator.yaml")
        for file in [config.db, config.ingestTokenFile, config.queryTokenFile, config.tlsCert, config.tlsKey].compactMap({ $0 }) {
            #expect(mounts.contains { file.hasPrefix($0 + "/") }, "\(file) is not under a mount of the StatefulSet: \(mounts)")
        }
    }

    @Test func madeSecretsServeTLSThatTheirCAVerifies() throws {
        let dir = try TemporaryDirectory()
        let script = Fixtures.repositoryRoot.appendingPathComponent("scripts/make-secrets").path
        let made = try Subprocess.run(URL(fileURLWithPath: "/bin/bash"), [script, dir.path("secrets.yaml")])
        #expect(made.status == 0, "\(made.stderr)")
        // Unpack the Secret data as kubelet would mount it.
        let yaml = try String(contentsOfFile: dir.path("secrets.yaml"), encoding: .utf8)
        for line in yaml.components(separatedBy: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard let colon = t.firstIndex(of: ":"), t.hasPrefix("ingest.") || t.hasPrefix("query.") || t.hasPrefix("ca.") || t.hasPrefix("tls.") else { continue }
            let data = try #require(Data(base64Encoded: String(t[t.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            try data.write(to: dir.url.appendingPathComponent(String(t[..<colon])))
        }
        let ingest = try String(contentsOfFile: dir.path("ingest.token"), encoding: .utf8)
        #expect(ingest == (try String(contentsOfFile: dir.path("ingest.tokens"), encoding: .utf8)) && ingest.count == 65)
        #expect(!yaml.contains(ingest.trimmingCharacters(in: .whitespacesAndNewlines)), "tokens are base64 in the Secret, as Kubernetes wants")
        let server = try ServerProcess(arguments: ["--db", dir.path("agg.db"), "--ingest-token-file", dir.path("ingest.tokens"),
                                                   "--tls-cert", dir.path("tls.crt"), "--tls-key", dir.path("tls.key")])
        defer { server.stop() }
        let name = "kubetrail-aggregator.kubetrail.svc"
        let reply = try Curl.request("https://\(name):\(server.port)/healthz", method: "GET",
                                     extra: ["--cacert", dir.path("ca.crt"), "--resolve", "\(name):\(server.port):127.0.0.1"])
        #expect(reply.status == 200, "\(reply.body)")
    }
}
