import Foundation
import Testing
import TestSupport
import KubetrailCore
@testable import KubetrailKube

@Suite struct ExecCredentialsTests {
    /// A plugin that records its KUBERNETES_EXEC_INFO and how often it ran, and prints a token.
    func plugin(
        _ dir: TemporaryDirectory, apiVersion: String = "client.authentication.k8s.io/v1", expiration: String? = nil,
        status: String? = nil
    ) throws -> String {
        let expiry = expiration.map { ",\"expirationTimestamp\":\"\($0)\"" } ?? ""
        let body = status ?? "{\"token\":\"exec-tok-$n\"\(expiry)}"
        let path = try dir.write(
            "plugin.sh",
            """
            #!/bin/sh
            printf '%s' "$KUBERNETES_EXEC_INFO" > "$(dirname "$0")/exec-info.json"
            n=$(( $(cat "$(dirname "$0")/runs" 2>/dev/null || echo 0) + 1 ))
            echo $n > "$(dirname "$0")/runs"
            cat <<JSON
            {"apiVersion":"\(apiVersion)","kind":"ExecCredential","status":\(body)}
            JSON
            """)
        chmod(path, 0o755)
        return path
    }

    func kubeconfig(_ dir: TemporaryDirectory, plugin: String, extra: String = "") throws -> String {
        try dir.write(
            "kc",
            """
            apiVersion: v1
            kind: Config
            current-context: x
            clusters:
            - name: c1
              cluster:
                server: https://127.0.0.1:1
                insecure-skip-tls-verify: true
                tls-server-name: fake.example
                extensions:
                - name: client.authentication.k8s.io/exec
                  extension: {audience: my-audience, someKey: someValue}
            contexts:
            - name: x
              context: {cluster: c1, user: u}
            users:
            - name: u
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: \(plugin)
                  interactiveMode: Never
                  provideClusterInfo: true
                  env: [{name: PLUGIN_MODE, value: test}]\(extra)
            """)
    }

    @Test func theExecInfoIsWhatKubectlSends() throws {
        let dir = try TemporaryDirectory()
        let config = try kubeconfig(dir, plugin: try plugin(dir))
        let connection = try MergedKubeconfig.load(explicit: config, environment: [:]).connection()
        let execConfig = try #require(connection.exec)
        let info = ExecCredentials(config: execConfig, connection: connection).execInfoJSON
        let ours = try #require(try JSONSerialization.jsonObject(with: Data(info.utf8)) as? NSDictionary)
        // kubectl runs the plugin before it connects (and fails to connect: nothing listens).
        _ = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/kubectl"), ["--kubeconfig", config, "get", "--raw", "/version", "--request-timeout", "2s"],
            environment: ["HOME": "/nonexistent-home"])
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path("exec-info.json")))) as? NSDictionary)
        #expect(ours == theirs, "ours \(ours)\nkubectl's \(theirs)")
    }

    @Test func credentialsAreCachedUntilTheyExpireAndRerunAfterA401() throws {
        let dir = try TemporaryDirectory()
        let connection = try MergedKubeconfig.load(explicit: kubeconfig(dir, plugin: plugin(dir, expiration: "2099-01-01T00:00:00Z")), environment: [:])
            .connection()
        let exec = ExecCredentials(config: try #require(connection.exec), connection: connection)
        let first = try exec.current()
        #expect(first.token == "exec-tok-1")
        #expect(try exec.current().token == "exec-tok-1")
        #expect(exec.runs == 1)
        exec.refused(first)
        #expect(try exec.current().token == "exec-tok-2")
        exec.refused(first)  // a stale refusal does not throw away the new credential
        #expect(try exec.current().token == "exec-tok-2")

        let expiredDir = try TemporaryDirectory()
        let expiredConnection = try MergedKubeconfig.load(
            explicit: kubeconfig(expiredDir, plugin: plugin(expiredDir, expiration: "2020-01-01T00:00:00Z")), environment: [:]
        ).connection()
        let expired = ExecCredentials(config: try #require(expiredConnection.exec), connection: expiredConnection)
        #expect(try expired.current().token == "exec-tok-1")
        #expect(try expired.current().token == "exec-tok-2")
    }

    @Test(arguments: [
        (
            "version",
            "exec plugin is configured to use API version client.authentication.k8s.io/v1, plugin returned version client.authentication.k8s.io/v1beta1"
        ),
        ("nothing", "exec plugin didn't return a token or cert/key pair"),
        ("halfPair", "exec plugin returned only certData or keyData, expected both")
    ])
    func badPluginOutputIsAClearError(kind: String, message: String) throws {
        let dir = try TemporaryDirectory()
        let path: String
        switch kind {
        case "version": path = try plugin(dir, apiVersion: "client.authentication.k8s.io/v1beta1")
        case "nothing": path = try plugin(dir, status: "{}")
        default: path = try plugin(dir, status: "{\"clientCertificateData\":\"PEM\"}")
        }
        let connection = try MergedKubeconfig.load(explicit: kubeconfig(dir, plugin: path), environment: [:]).connection()
        #expect { try ExecCredentials(config: #require(connection.exec), connection: connection).current() } throws: { "\($0)".contains(message) }
    }

    @Test func aPluginThatNeverFinishesIsStopped() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("slow.sh", "#!/bin/sh\nsleep 30\n")
        chmod(path, 0o755)
        let connection = try MergedKubeconfig.load(explicit: kubeconfig(dir, plugin: path), environment: [:]).connection()
        let exec = ExecCredentials(config: try #require(connection.exec), connection: connection, timeout: 0.5)
        let started = Date()
        #expect { try exec.current() } throws: { "\($0)".contains("did not finish within") }
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func aMissingPluginShowsItsInstallHint() throws {
        let dir = try TemporaryDirectory()
        let config = try kubeconfig(dir, plugin: "kubetrail-no-such-plugin", extra: "\n      installHint: install it with make install")
        let connection = try MergedKubeconfig.load(explicit: config, environment: [:]).connection()
        #expect {
            try ExecCredentials(config: #require(connection.exec), connection: connection).current()
        } throws: { "\($0)".contains("executable kubetrail-no-such-plugin not found") && "\($0)".contains("install it with make install") }
    }
}
