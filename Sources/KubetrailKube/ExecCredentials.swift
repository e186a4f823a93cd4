import Foundation
import KubetrailCore

/// Credentials from a kubeconfig exec plugin (`client.authentication.k8s.io/v1` or `v1beta1`),
/// run the way client-go runs them: the process environment plus the plugin's `env` plus
/// `KUBERNETES_EXEC_INFO`, never interactive here (the aggregator and `collect` have no user at
/// a terminal), cached in memory until `expirationTimestamp`, and run again after a 401.
public final class ExecCredentials: @unchecked Sendable {
    public struct Credential: Sendable, Equatable {
        public var token: String?
        public var clientCertificatePEM: String?
        public var clientKeyPEM: String?
        public var expiration: Timestamp?
    }

    public let config: KubeconfigFile.ExecConfig
    private let connection: ClusterConnection
    private let lock = NSLock()
    private var cached: Credential?
    /// How many times the plugin ran (for tests and the log).
    public private(set) var runs = 0
    private let now: @Sendable () -> Timestamp

    /// How long a plugin may run before it is killed (a login prompt waiting for a terminal
    /// that is not there must not stall every poller).
    public let timeout: Double

    public init(
        config: KubeconfigFile.ExecConfig, connection: ClusterConnection, timeout: Double = 60,
        now: @escaping @Sendable () -> Timestamp = { .now }
    ) {
        self.config = config
        self.connection = connection
        self.timeout = timeout
        self.now = now
    }

    /// The cached credential while it has not expired; otherwise the plugin runs.
    public func current() throws -> Credential {
        try lock.withLock {
            if let c = cached, c.expiration.map({ now() < $0 }) ?? true { return c }
            let fresh = try run()
            cached = fresh
            return fresh
        }
    }

    /// After a 401: forget the credential that was refused (only if it is still the cached one),
    /// so the next request runs the plugin again.
    public func refused(_ credential: Credential) {
        lock.withLock { if cached == credential { cached = nil } }
    }

    /// The `ExecCredential` request kubectl puts in `KUBERNETES_EXEC_INFO`.
    public var execInfoJSON: String {
        var spec = "\"interactive\":false"
        if config.provideClusterInfo {
            var cluster = ["\"server\":" + JSONText.string(connection.server)]
            if let name = connection.tlsServerName { cluster.append("\"tls-server-name\":" + JSONText.string(name)) }
            if connection.insecureSkipTLSVerify { cluster.append("\"insecure-skip-tls-verify\":true") }
            switch connection.certificateAuthority {
            case .data(let bytes)?: cluster.append("\"certificate-authority-data\":" + JSONText.string(Data(bytes).base64EncodedString()))
            case .file(let path)?:
                if let bytes = FileManager.default.contents(atPath: path) {
                    cluster.append("\"certificate-authority-data\":" + JSONText.string(bytes.base64EncodedString()))
                }
            case nil: break
            }
            if let proxy = connection.proxyURL { cluster.append("\"proxy-url\":" + JSONText.string(proxy)) }
            if connection.disableCompression { cluster.append("\"disable-compression\":true") }
            if let extra = connection.execClusterConfigJSON { cluster.append("\"config\":" + extra) }
            spec = "\"cluster\":{" + cluster.joined(separator: ",") + "}," + spec
        }
        return "{\"kind\":\"ExecCredential\",\"apiVersion\":" + JSONText.string(config.apiVersion ?? "")
            + ",\"spec\":{" + spec + "}}"
    }

    private func run() throws -> Credential {
        if config.interactiveMode == "Always" {
            throw KubeconfigError.invalid("getting credentials: exec plugin cannot support interactive mode: standard input is not a terminal")
        }
        guard let executable = Self.find(config.command) else {
            var message = "getting credentials: exec: executable \(config.command) not found"
            if let hint = config.installHint { message += "\n\n" + hint }
            throw KubeconfigError.invalid(message)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = config.args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in config.env { env[k] = v }
        env["KUBERNETES_EXEC_INFO"] = execInfoJSON
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        runs += 1
        // Read both pipes to the end before waiting, so a chatty plugin cannot block on a full pipe.
        let errData = LockedData()
        let outData = LockedData()
        Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }.start()
        Thread { outData.set(out.fileHandleForReading.readDataToEndOfFile()) }.start()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            // Killed and left to Foundation to reap: waiting here could wait on the plugin's children.
            kill(process.processIdentifier, SIGKILL)
            throw KubeconfigError.invalid("getting credentials: exec: executable \(config.command) did not finish within \(Int(timeout)) s; it was stopped")
        }
        process.waitUntilExit()
        // A plugin that left a child holding its pipes open is not waited for forever either.
        let drainDeadline = Date().addingTimeInterval(5)
        while (errData.get() == nil || outData.get() == nil) && Date() < drainDeadline { Thread.sleep(forTimeInterval: 0.005) }
        let output = outData.get() ?? Data()
        guard process.terminationStatus == 0 else {
            let stderr = String(decoding: errData.get() ?? Data(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw KubeconfigError.invalid(
                "getting credentials: exec: executable \(config.command) failed with exit code \(process.terminationStatus)"
                    + (stderr.isEmpty ? "" : ": " + stderr))
        }
        return try parse(output)
    }

    func parse(_ output: Data) throws -> Credential {
        guard let json = try? JSONSerialization.jsonObject(with: output) as? [String: Any] else {
            throw KubeconfigError.invalid("getting credentials: decoding stdout: the plugin did not print an ExecCredential JSON object")
        }
        let version = json["apiVersion"] as? String ?? ""
        guard version == config.apiVersion else {
            throw KubeconfigError.invalid(
                "getting credentials: exec plugin is configured to use API version \(config.apiVersion ?? ""), plugin returned version \(version)")
        }
        guard let status = json["status"] as? [String: Any] else {
            throw KubeconfigError.invalid("getting credentials: exec plugin didn't return a status field")
        }
        var c = Credential()
        c.token = (status["token"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        c.clientCertificatePEM = status["clientCertificateData"] as? String
        c.clientKeyPEM = status["clientKeyData"] as? String
        if (c.clientCertificatePEM == nil) != (c.clientKeyPEM == nil) {
            throw KubeconfigError.invalid("getting credentials: exec plugin returned only certData or keyData, expected both")
        }
        guard c.token != nil || c.clientCertificatePEM != nil else {
            throw KubeconfigError.invalid("getting credentials: exec plugin didn't return a token or cert/key pair")
        }
        if let text = status["expirationTimestamp"] as? String {
            guard let t = Timestamp(rfc3339: text) else {
                throw KubeconfigError.invalid("getting credentials: expirationTimestamp \(text) is not RFC 3339")
            }
            c.expiration = t
        }
        return c
    }

    /// A command with a slash is a path; a bare name is looked up on PATH.
    static func find(_ command: String) -> String? {
        if command.contains("/") { return FileManager.default.isExecutableFile(atPath: command) ? command : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = String(dir) + "/" + command
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ d: Data) { lock.withLock { data = d } }
    func get() -> Data? { lock.withLock { data } }
}
