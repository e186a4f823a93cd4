import Foundation
import Testing
import TestSupport
@testable import KubetrailKube

/// Every case is checked against what real kubectl 1.32 makes of the same files.
@Suite struct KubeconfigTests {
    static let kubectl = URL(fileURLWithPath: "/usr/bin/kubectl")

    func kubectl(_ args: [String], env: [String: String]) throws -> ProcessResult {
        try Subprocess.run(Self.kubectl, args, environment: env.merging(["HOME": "/nonexistent-home"]) { a, _ in a })
    }

    /// `kubectl config view --minify --raw -o json`, decoded.
    func minified(_ env: [String: String], context: String? = nil) throws -> [String: Any] {
        let r = try kubectl(["config", "view", "--minify", "--raw", "-o", "json"] + (context.map { ["--context", $0] } ?? []), env: env)
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    func first(_ json: [String: Any], _ list: String, _ key: String) -> [String: Any] {
        ((json[list] as? [[String: Any]])?.first?[key] as? [String: Any]) ?? [:]
    }

    @Test func kubeconfigListsMergeFirstFileWinsPerWholeEntry() throws {
        let dir = try TemporaryDirectory()
        let a = try dir.write(
            "a/config",
            """
            apiVersion: v1
            kind: Config
            current-context: ctxA
            clusters:
            - name: c1
              cluster: {server: "https://a.example:6443", insecure-skip-tls-verify: true}
            contexts:
            - name: ctxA
              context: {cluster: c1, user: u1, namespace: team-a}
            users:
            - name: u1
              user: {token: token-from-a}
            """)
        let b = try dir.write(
            "b/config",
            """
            apiVersion: v1
            kind: Config
            current-context: ctxB
            clusters:
            - name: c1
              cluster: {server: "https://b.example:6443", tls-server-name: b.internal}
            - name: c2
              cluster: {server: "https://c2.example"}
            contexts:
            - name: ctxA
              context: {cluster: c2, user: u2}
            - name: ctxB
              context: {cluster: c2, user: u2}
            users:
            - name: u1
              user: {username: admin, password: secret}
            - name: u2
              user: {token: token-from-b}
            """)
        let env = ["KUBECONFIG": "\(a):/nonexistent/config:\(b)"]
        let merged = try MergedKubeconfig.load(explicit: nil, environment: env)
        let ours = try merged.connection()
        let theirs = try minified(env)
        #expect(ours.contextName == theirs["current-context"] as? String)
        #expect(ours.server == first(theirs, "clusters", "cluster")["server"] as? String)
        #expect(ours.tlsServerName == first(theirs, "clusters", "cluster")["tls-server-name"] as? String)  // b's is dropped
        #expect(ours.insecureSkipTLSVerify == (first(theirs, "clusters", "cluster")["insecure-skip-tls-verify"] as? Bool ?? false))
        #expect(ours.token == first(theirs, "users", "user")["token"] as? String)
        #expect(ours.basicAuth == nil)
        #expect(ours.namespace == "team-a")
        // Reversed, b's current context wins; ctxB exists only in b and is kept.
        let reversed = ["KUBECONFIG": "\(b):\(a)"]
        let other = try MergedKubeconfig.load(explicit: nil, environment: reversed).connection()
        #expect(other.contextName == (try kubectl(["config", "current-context"], env: reversed)).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(other.server == "https://c2.example" && other.namespace == "default")
        // --context picks another, also from the merged set.
        let picked = try merged.connection(context: "ctxB")
        #expect(picked.server == first(try minified(env, context: "ctxB"), "clusters", "cluster")["server"] as? String)
    }

    @Test func relativePathsResolveAgainstTheFileThatHoldsThem() throws {
        let dir = try TemporaryDirectory()
        try dir.write("tls/sub/ca.crt", "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n")
        try dir.write("tls/client.crt", "-----BEGIN CERTIFICATE-----\nQ0xJRU5U\n-----END CERTIFICATE-----\n")
        try dir.write("tls/client.key", "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n")
        try dir.write("tls/sub/tokenfile", "file-token-xyz\n")
        let config = try dir.write(
            "tls/kc.yaml",
            """
            apiVersion: v1
            kind: Config
            current-context: tls
            clusters:
            - name: tls
              cluster: {server: "https://127.0.0.1:18443", certificate-authority: sub/ca.crt}
            contexts:
            - name: tls
              context: {cluster: tls, user: tls}
            users:
            - name: tls
              user:
                tokenFile: sub/tokenfile
                client-certificate: client.crt
                client-key: client.key
                exec:
                  apiVersion: client.authentication.k8s.io/v1beta1
                  command: ./plugin.sh
            """)
        let ours = try MergedKubeconfig.load(explicit: config, environment: [:]).connection()
        #expect(ours.certificateAuthority == .file(dir.path("tls/sub/ca.crt")))
        #expect(ours.tokenFile == dir.path("tls/sub/tokenfile"))
        #expect(ours.clientCertificate == .file(dir.path("tls/client.crt")))
        #expect(ours.exec?.command == dir.path("tls/plugin.sh"))
        #expect(ours.exec?.interactiveMode == "IfAvailable")  // v1beta1's default
        // kubectl --flatten reads the same files from where it resolves them (run from another directory).
        let flat = try Subprocess.run(
            Self.kubectl, ["config", "view", "--minify", "--flatten", "-o", "json", "--kubeconfig", config],
            environment: ["HOME": "/nonexistent-home"], currentDirectory: URL(fileURLWithPath: "/"))
        #expect(flat.status == 0, "\(flat.stderr)")
        let json = try #require(JSONSerialization.jsonObject(with: Data(flat.stdout.utf8)) as? [String: Any])
        let caData = try #require(first(json, "clusters", "cluster")["certificate-authority-data"] as? String)
        #expect(Data(base64Encoded: caData) == FileManager.default.contents(atPath: dir.path("tls/sub/ca.crt")))
        let certData = try #require(first(json, "users", "user")["client-certificate-data"] as? String)
        #expect(Data(base64Encoded: certData) == FileManager.default.contents(atPath: dir.path("tls/client.crt")))
    }

    /// The same fatal combinations kubectl refuses, with kubectl's words.
    @Test(arguments: [
        (
            "tokenAndBasic", "users:\n- name: tb\n  user: {token: t, username: a, password: b}\n", "tb",
            "more than one authentication method found for tb; found [token basicAuth], only one is allowed"
        ),
        (
            "bothCAs", "users:\n- name: tb\n  user: {token: t}\n", "tb",
            "certificate-authority-data and certificate-authority are both specified for c1. certificate-authority-data will override."
        ),
        ("insecureWithCA", "users:\n- name: tb\n  user: {token: t}\n", "tb", "specifying a root certificates file with the insecure flag is not allowed")
    ])
    func fatalCombinationsAreRejectedAsKubectlRejectsThem(name: String, users: String, user: String, message: String) throws {
        let dir = try TemporaryDirectory()
        try dir.write("ca.crt", "x")
        let cluster: String
        switch name {
        case "bothCAs": cluster = "{server: \"https://127.0.0.1:1\", certificate-authority: ca.crt, certificate-authority-data: eA==}"
        case "insecureWithCA": cluster = "{server: \"https://127.0.0.1:1\", certificate-authority: ca.crt, insecure-skip-tls-verify: true}"
        default: cluster = "{server: \"https://127.0.0.1:1\"}"
        }
        let config = try dir.write(
            "kc",
            "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters:\n- name: c1\n  cluster: \(cluster)\ncontexts:\n- name: x\n  context: {cluster: c1, user: \(user)}\n"
                + users)
        #expect {
            try MergedKubeconfig.load(explicit: config, environment: [:]).connection()
        } throws: { error in "\(error)".contains(message) }
        let real = try kubectl(["--kubeconfig", config, "get", "--raw", "/version", "--request-timeout", "2s"], env: [:])
        #expect(real.status != 0)
        #expect(real.stderr.contains(message), "kubectl said: \(real.stderr)")
    }

    @Test func aMissingContextAndAnEmptyCurrentContextBehaveAsInKubectl() throws {
        let dir = try TemporaryDirectory()
        let config = try dir.write(
            "kc",
            "apiVersion: v1\nkind: Config\ncurrent-context: \"\"\nclusters:\n- name: c1\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: x\n  context: {cluster: c1, user: \"\"}\n"
        )
        let merged = try MergedKubeconfig.load(explicit: config, environment: [:])
        #expect(throws: KubeconfigError.invalid("error: context \"nope\" does not exist")) {
            try merged.connection(context: "nope")
        }
        let real = try kubectl(["--kubeconfig", config, "--context", "nope", "get", "--raw", "/version"], env: [:])
        #expect(real.stderr.contains("error: context \"nope\" does not exist"), "kubectl said: \(real.stderr)")
        // A current-context naming a missing context is worded differently.
        let dangling = try dir.write(
            "kc2", "apiVersion: v1\nkind: Config\ncurrent-context: missingctx\nclusters:\n- name: c1\n  cluster: {server: \"https://127.0.0.1:1\"}\n")
        #expect(throws: KubeconfigError.invalid("Error in configuration: context was not found for specified context: missingctx")) {
            try MergedKubeconfig.load(explicit: dangling, environment: [:]).connection()
        }
        let real2 = try kubectl(["--kubeconfig", dangling, "get", "--raw", "/version", "--request-timeout", "2s"], env: [:])
        #expect(real2.stderr.contains("context was not found for specified context: missingctx"), "kubectl said: \(real2.stderr)")
        // No current context: client-go falls back to localhost:8080.
        #expect(try merged.connection().server == "http://localhost:8080")
        let fallback = try kubectl(["--kubeconfig", config, "get", "--raw", "/version", "--request-timeout", "2s"], env: [:])
        #expect(fallback.stderr.contains("localhost:8080"))
        // A missing --kubeconfig file is an error, as in kubectl.
        #expect(throws: KubeconfigError.self) { try MergedKubeconfig.load(explicit: dir.path("absent"), environment: [:]) }
    }
}
