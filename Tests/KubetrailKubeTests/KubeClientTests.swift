import Foundation
import Testing
import TestSupport
@testable import KubetrailKube

/// The client against a TLS fake API server, with real kubectl run on the same kubeconfig as the
/// reference for what goes over the wire.
@Suite(.serialized) struct KubeClientTests {
    func kubeconfig(_ dir: TemporaryDirectory, port: Int, cluster: String, user: String) throws -> String {
        try writeKubeconfig(dir, server: "https://127.0.0.1:\(port)", cluster: cluster, user: user)
    }

    func runKubectl(_ config: String) throws {
        _ = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/kubectl"), ["--kubeconfig", config, "get", "--raw", "/version"],
            environment: ["HOME": "/nonexistent-home"])
    }

    @Test func tokensAndClientCertificatesGoOverTheWireAsKubectlSendsThem() throws {
        let dir = try TemporaryDirectory()
        try makeAPICertificates(in: dir)
        let server = try FakeAPIServer(dir: dir, cert: dir.path("server.pem"), key: dir.path("server.key"), clientCA: dir.path("ca.pem"))
        defer { server.stop() }
        let caData = try Data(contentsOf: dir.url.appendingPathComponent("ca.pem")).base64EncodedString()
        let certData = try Data(contentsOf: dir.url.appendingPathComponent("client.pem")).base64EncodedString()
        let keyData = try Data(contentsOf: dir.url.appendingPathComponent("client.key")).base64EncodedString()
        let config = try kubeconfig(
            dir, port: server.port, cluster: "certificate-authority-data: \(caData)",
            user: "token: static-token-A\nclient-certificate-data: \(certData)\nclient-key-data: \(keyData)")
        let client = KubeClient(connection: try MergedKubeconfig.load(explicit: config, environment: [:]).connection())
        let reply = try client.get("/version")
        #expect(reply.status == 200 && reply.text.contains("v1.32.0-fake"))
        try runKubectl(config)
        let seen = server.requests
        let ours = try #require(seen.first)
        let kubectls = seen.dropFirst().filter { ($0["path"] as? String) == "/version" }
        let theirs = try #require(kubectls.last)
        #expect(ours["auth"] as? String == "Bearer static-token-A")
        #expect(ours["auth"] as? String == theirs["auth"] as? String)
        #expect(ours["cn"] as? String == "alice" && theirs["cn"] as? String == "alice")
        #expect(ours["host"] as? String == theirs["host"] as? String)
    }

    @Test func tlsServerNameIsVerifiedAndSentWhileHostStaysTheURLs() throws {
        let dir = try TemporaryDirectory()
        try makeAPICertificates(in: dir)
        let server = try FakeAPIServer(dir: dir, cert: dir.path("named.pem"), key: dir.path("named.key"), clientCA: nil)
        defer { server.stop() }
        let without = try kubeconfig(dir, port: server.port, cluster: "certificate-authority: \(dir.path("ca.pem"))", user: "token: t")
        #expect(throws: KubeClient.Failure.self) {
            try KubeClient(connection: MergedKubeconfig.load(explicit: without, environment: [:]).connection()).get("/version")
        }
        let with = try kubeconfig(
            dir, port: server.port, cluster: "certificate-authority: \(dir.path("ca.pem"))\ntls-server-name: fake.example", user: "token: t")
        let reply = try KubeClient(connection: MergedKubeconfig.load(explicit: with, environment: [:]).connection()).get("/version")
        #expect(reply.status == 200)
        try runKubectl(with)
        let ok = server.requests.filter { ($0["path"] as? String) == "/version" }
        #expect(ok.count >= 2)
        #expect(ok.first?["sni"] as? String == "fake.example")
        #expect(ok.first?["host"] as? String == "127.0.0.1:\(server.port)")
        #expect(ok.first?["host"] as? String == ok.last?["host"] as? String)
    }

    @Test func plainHTTPCarriesNoCredentials() throws {
        let dir = try TemporaryDirectory()
        let server = try FakeAPIServer(dir: dir, cert: nil, key: nil, clientCA: nil)
        defer { server.stop() }
        let config = try dir.write(
            "kc",
            "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:\(server.port)\"}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: faketoken123}\n"
        )
        #expect(try KubeClient(connection: MergedKubeconfig.load(explicit: config, environment: [:]).connection()).get("/version").status == 200)
        try runKubectl(config)
        #expect(server.requests.count >= 2)
        #expect(server.requests.allSatisfy { $0["auth"] == nil || $0["auth"] is NSNull })
    }

    @Test func aRefusedFileTokenIsReadAgainAndWatchLinesStream() throws {
        let dir = try TemporaryDirectory()
        try makeAPICertificates(in: dir)
        let server = try FakeAPIServer(dir: dir, cert: dir.path("server.pem"), key: dir.path("server.key"), clientCA: nil)
        defer { server.stop() }
        try dir.write("token", "bad-token\n")
        let config = try kubeconfig(dir, port: server.port, cluster: "certificate-authority: \(dir.path("ca.pem"))", user: "tokenFile: \(dir.path("token"))")
        let client = KubeClient(connection: try MergedKubeconfig.load(explicit: config, environment: [:]).connection())
        #expect(try client.get("/version").status == 401)  // returned to the caller, as client-go does
        try dir.write("token", "good-token\n")
        #expect(try client.get("/version").status == 200)  // the 401 made the file be read again
        #expect(server.requests.last?["auth"] as? String == "Bearer good-token")
        var names: [String] = []
        let status = try client.stream("/api/v1/pods?watch=1&allowWatchBookmarks=true") { line in
            let json = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            if let name = (json?["object"] as? [String: Any]).flatMap({ $0["metadata"] as? [String: Any] })?["name"] as? String { names.append(name) }
            return true
        }
        #expect(status == 200)
        #expect(names == ["p0", "p1", "p2"])
        // A line longer than the cap is an error, not a cut line handed on.
        #expect(throws: KubeClient.Failure.self) {
            try client.stream("/api/v1/pods?watch=1", maxLineBytes: 40) { _ in
                Issue.record("a line over the cap was delivered"); return true
            }
        }
    }
}
