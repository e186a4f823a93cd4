import Foundation

/// `scripts/fake-kube-apiserver.py` as a process on 127.0.0.1, with its state directory: tests
/// add pods and events, write container logs, and stop and restart containers while clients
/// (ours and the real kubectl) read from it.
public final class FakeCluster: @unchecked Sendable {
    public let process = Process()
    public let state: String
    public let port: Int
    public let scheme: String

    public static let script = Fixtures.repositoryRoot.appendingPathComponent("scripts/fake-kube-apiserver.py").path

    public init(
        dir: TemporaryDirectory, tls: (cert: String, key: String)? = nil, token: String? = nil, bench: Int = 0, forbid: [String] = [], unserved: [String] = []
    ) throws {
        state = dir.path("cluster-\(UUID().uuidString.prefix(8))")
        for sub in ["pods", "events", "logs"] {
            try FileManager.default.createDirectory(atPath: state + "/" + sub, withIntermediateDirectories: true)
        }
        var arguments = [Self.script, "--state", state]
        if let tls { arguments += ["--tls", tls.cert, tls.key] }
        if let token { arguments += ["--token", token] }
        if bench > 0 { arguments += ["--bench", String(bench)] }
        for resource in forbid { arguments += ["--forbid", resource] }
        for resource in unserved { arguments += ["--unserved", resource] }
        port = try PythonServer.start(process, arguments: arguments)
        scheme = tls == nil ? "http" : "https"
    }

    public var url: String { "\(scheme)://127.0.0.1:\(port)" }

    /// A kubeconfig pointing at this server (no credentials: plain HTTP carries none).
    @discardableResult
    public func writeKubeconfig(_ path: String, namespace: String = "default") throws -> String {
        let text = """
            apiVersion: v1
            kind: Config
            clusters: [{name: fake, cluster: {server: "\(url)"}}]
            users: [{name: nobody, user: {}}]
            contexts: [{name: fake, context: {cluster: fake, user: nobody, namespace: \(namespace)}}]
            current-context: fake
            """
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    public func addPod(_ object: [String: Any]) throws {
        let meta = object["metadata"] as? [String: Any] ?? [:]
        let name = "\(meta["namespace"] as? String ?? "default")_\(meta["name"] as? String ?? "pod")"
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        let tmp = state + "/pods/.\(name).tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        _ = rename(tmp, state + "/pods/\(name).json")
    }

    /// A running pod with these containers, each at `restartCount`.
    public func addPod(
        namespace: String, name: String, uid: String, containers: [String], labels: [String: String] = [:],
        node: String = "node-a", restartCount: Int = 0, phase: String = "Running"
    ) throws {
        try addPod([
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": name, "namespace": namespace, "uid": uid, "labels": labels, "resourceVersion": "1"],
            "spec": ["nodeName": node, "containers": containers.map { ["name": $0] }],
            "status": [
                "phase": phase,
                "containerStatuses": containers.map {
                    ["name": $0, "restartCount": restartCount, "containerID": "containerd://\($0)-\(restartCount)"] as [String: Any]
                }
            ]
        ])
    }

    public func removePod(namespace: String, name: String) {
        try? FileManager.default.removeItem(atPath: state + "/pods/\(namespace)_\(name).json")
    }

    public func addEvent(_ object: [String: Any], file: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object)
        try data.write(to: URL(fileURLWithPath: state + "/events/\(file).json"))
    }

    private func logBase(_ namespace: String, _ pod: String, _ container: String) -> String {
        state + "/logs/\(namespace)_\(pod)_\(container)"
    }

    /// Appends `lines` ("<RFC3339Nano> <text>", what the kubelet serves with timestamps).
    public func appendLog(namespace: String, pod: String, container: String, _ lines: [String]) throws {
        let path = logBase(namespace, pod, container) + ".log"
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(lines.map { $0 + "\n" }.joined().utf8))
    }

    /// The running instance ends: a followed stream finishes once it has sent everything.
    public func stopContainer(namespace: String, pod: String, container: String) {
        _ = FileManager.default.createFile(atPath: logBase(namespace, pod, container) + ".stopped", contents: nil)
    }

    /// Log requests get 400 "waiting to start" until `startContainer`.
    public func holdContainer(namespace: String, pod: String, container: String) {
        _ = FileManager.default.createFile(atPath: logBase(namespace, pod, container) + ".waiting", contents: nil)
    }

    /// The container's instance is replaced by a new one, as the kubelet does after a crash: the
    /// pod's status gets a new container ID and restart count, the old ID moves to
    /// `lastState.terminated`, and the old log becomes what `previous=true` serves. The new
    /// instance is held ("waiting to start") until `startContainer`.
    public func restartContainer(namespace: String, pod: String, container: String) throws {
        let path = state + "/pods/\(namespace)_\(pod).json"
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        var status = object["status"] as? [String: Any] ?? [:]
        var statuses = status["containerStatuses"] as? [[String: Any]] ?? []
        for i in statuses.indices where statuses[i]["name"] as? String == container {
            let count = (statuses[i]["restartCount"] as? Int ?? 0) + 1
            statuses[i]["lastState"] = ["terminated": ["containerID": statuses[i]["containerID"] ?? "", "exitCode": 1]]
            statuses[i]["containerID"] = "containerd://\(container)-\(count)"
            statuses[i]["restartCount"] = count
        }
        status["containerStatuses"] = statuses
        object["status"] = status
        let base = logBase(namespace, pod, container)
        try? FileManager.default.removeItem(atPath: base + ".previous.log")
        if FileManager.default.fileExists(atPath: base + ".log") { try FileManager.default.moveItem(atPath: base + ".log", toPath: base + ".previous.log") }
        holdContainer(namespace: namespace, pod: pod, container: container)
        try addPod(object)
    }

    public func startContainer(namespace: String, pod: String, container: String) {
        try? FileManager.default.removeItem(atPath: logBase(namespace, pod, container) + ".stopped")
        try? FileManager.default.removeItem(atPath: logBase(namespace, pod, container) + ".waiting")
    }

    /// Every request so far: path, Accept, whether it carried credentials.
    public var requests: [[String: Any]] {
        let text = (try? String(contentsOfFile: state + "/requests.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    public var requestPaths: [String] { requests.compactMap { $0["path"] as? String } }

    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }  // the test runner's blocked SIGTERM is inherited
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
