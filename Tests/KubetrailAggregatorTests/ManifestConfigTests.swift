import Foundation
import Testing
import TestSupport
import KubetrailAggregator
import KubetrailKube
import KubetrailCore

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
        #expect(config.digestSigningKey != nil, "the signing key comes from a Secret, not from beside the database")
        for file in [config.db, config.ingestTokenFile, config.queryTokenFile, config.tlsCert, config.tlsKey, config.digestSigningKey].compactMap({ $0 }) {
            #expect(mounts.contains { file.hasPrefix($0 + "/") }, "\(file) is not under a mount of the StatefulSet: \(mounts)")
        }
    }

    /// The PostgreSQL overlay's password files are the Secret's items, where it mounts them, and
    /// both URLs come from the Secret: the writer's and the reader role's that queries use.
    @Test func thePostgresOverlaysFilesAndURLsComeFromItsSecret() throws {
        let name = "../postgres/aggregator-deployment.yaml"
        let text = try Manifests.text(name)
        let mounts = try Manifests.mountPaths(name)
        let files =
            text.components(separatedBy: "\"").filter { $0.hasPrefix("/etc/kubetrail/postgres/") }
            + text.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("value: /etc/kubetrail/") }.map {
                String($0.dropFirst("value: ".count))
            }
        #expect(Set(files) == ["/etc/kubetrail/postgres/password", "/etc/kubetrail/postgres-reader/query-password"], "\(files)")
        for file in files {
            #expect(mounts.contains { file.hasPrefix($0 + "/") }, "\(file) is not under a mount: \(mounts)")
            let item = (file as NSString).lastPathComponent
            #expect(text.contains("- key: \(item)\n            path: \(item)"), "\(item) is not an item of the Secret's volume")
        }
        for (variable, key) in [("KUBETRAIL_DB", "url"), ("KUBETRAIL_QUERY_DB", "query-url")] {
            #expect(
                text.contains(
                    "- name: \(variable)\n          valueFrom:\n            secretKeyRef:\n              name: kubetrail-postgres\n              key: \(key)\n"),
                "\(variable) does not come from the Secret's \(key)")
        }
        // The reader is optional: a Secret made before it existed still starts the pods.
        #expect(
            text.contains("key: query-url\n              optional: true") && text.contains("optional: true\n          items:\n          - key: query-password"))
        #expect(text.contains("\"--db-password-file\"") && text.contains("- name: KUBETRAIL_QUERY_DB_PASSWORD_FILE"))
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
            guard let colon = t.firstIndex(of: ":"),
                t.hasPrefix("ingest.") || t.hasPrefix("worker.") || t.hasPrefix("query.") || t.hasPrefix("ca.") || t.hasPrefix("tls.")
                    || t.hasPrefix("audit-digest.")
            else { continue }
            let data = try #require(Data(base64Encoded: String(t[t.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            try data.write(to: dir.url.appendingPathComponent(String(t[..<colon])))
        }
        let ingest = try String(contentsOfFile: dir.path("ingest.token"), encoding: .utf8)
        let worker = try String(contentsOfFile: dir.path("worker.token"), encoding: .utf8)
        let webhook = try String(contentsOfFile: dir.path("secrets.webhook.token"), encoding: .utf8)
        let lines = try String(contentsOfFile: dir.path("ingest.tokens"), encoding: .utf8).split(separator: "\n")
        #expect(Set([ingest, worker, webhook]).count == 3 && [ingest, worker, webhook].allSatisfy { $0.count == 65 })
        // The control plane's agents ship audit files and logs, the workers' logs only; only the
        // webhook's token posts as kube-apiserver.
        #expect(lines == ["\(ingest.dropLast()) kinds=audit,logs", "\(worker.dropLast()) kinds=logs", "\(webhook.dropLast()) kinds=webhook"], "\(lines)")
        #expect(!yaml.contains(ingest.trimmingCharacters(in: .whitespacesAndNewlines)), "tokens are base64 in the Secret, as Kubernetes wants")
        let server = try ServerProcess(arguments: [
            "--db", dir.path("agg.db"), "--ingest-token-file", dir.path("ingest.tokens"),
            "--tls-cert", dir.path("tls.crt"), "--tls-key", dir.path("tls.key"),
            "--digest-signing-key", dir.path("audit-digest.key")
        ])
        defer { server.stop() }
        let name = "kubetrail-aggregator.kubetrail.svc"
        let reply = try Curl.request(
            "https://\(name):\(server.port)/healthz", method: "GET",
            extra: ["--cacert", dir.path("ca.crt"), "--resolve", "\(name):\(server.port):127.0.0.1"])
        #expect(reply.status == 200, "\(reply.body)")
        let tls = ["--cacert", dir.path("ca.crt"), "--resolve", "\(name):\(server.port):127.0.0.1"]
        let event = try Fixtures.text("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").split(separator: "\n")[0]
        let list = Data((#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["# + event + "]}").utf8)
        let asAgent = try Curl.request(
            "https://\(name):\(server.port)/v1/audit/webhook", headers: ["Authorization": "Bearer \(ingest.dropLast())"], body: list, extra: tls)
        #expect(asAgent.status == 403, "\(asAgent.body)")
        let asWebhook = try Curl.request(
            "https://\(name):\(server.port)/v1/audit/webhook", headers: ["Authorization": "Bearer \(webhook.dropLast())"], body: list, extra: tls)
        #expect(asWebhook.status == 200, "\(asWebhook.body)")
        // A worker's agent cannot ship audit lines.
        var audit = WireBatchEncoder(node: "worker-1", cluster: "")
        audit.append(.init(kind: .auditLine, path: "/var/log/kubernetes/audit/audit.log", identity: "1"), offset: 0, bytes: Array(event.utf8))
        let batch = try dir.write("audit.z", Data(try audit.deflated()))
        let asWorker = try Curl.request(
            "https://\(name):\(server.port)/v1/ingest",
            headers: ["Authorization": "Bearer \(worker.dropLast())", "Content-Encoding": "deflate"], bodyFile: batch, extra: tls)
        #expect(asWorker.status == 403, "\(asWorker.body)")
        // The Secret's key signs, and the public half written beside OUT.yaml checks it.
        #expect(
            try String(contentsOfFile: dir.path("secrets.audit-digest.key.pub"), encoding: .utf8)
                == String(contentsOfFile: dir.path("audit-digest.key.pub"), encoding: .utf8))
        server.stop()
        let verify = try Subprocess.kubetrail(["verify", "--db", dir.path("agg.db"), "--public-key", dir.path("secrets.audit-digest.key.pub")])
        #expect(verify.status == 0 && verify.stdout.contains("1 chain entries checked"), "\(verify.stdout)\(verify.stderr)")
    }
}
