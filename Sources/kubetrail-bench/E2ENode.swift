import Foundation

/// One simulated node for the end-to-end run: its own `var/log` tree, and a writer that appends
/// uniquely numbered audit events and container lines and rotates the files as kube-apiserver
/// (rename, `audit-<time>.log`) and the kubelet (rename, `0.log.<time>`) do, deleting rotated
/// files after a while — plus a second audit log rotated by copy-truncate as logrotate does it
/// (`legacy.log` copied to `legacy.log-<time>`, then truncated), which the agent must follow
/// through its copies without loss too.
final class E2ENode: @unchecked Sendable {
    let index: Int
    let root: String
    var auditDir: String { root + "/audit" }
    var containersDir: String { root + "/containers" }
    var podsDir: String { root + "/pods" }
    var stateDir: String { root + "/state" }
    let renamedPod: String
    var truncatedLog: String { auditDir + "/legacy.log" }
    private let lock = NSLock()
    private(set) var audit = 0
    private(set) var renamed = 0
    private(set) var truncated = 0
    private(set) var rotations = 0
    private var stopped = false
    /// Rotated files older than this are deleted (long enough for an agent restart to catch up).
    let keepRotated: Double

    init(index: Int, root: String, keepRotated: Double) throws {
        self.index = index
        self.root = root
        self.keepRotated = keepRotated
        renamedPod = root + "/pods/shop_web-\(index)_uid-web-\(index)/app"
        for d in [auditDir, containersDir, stateDir, renamedPod] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        _ = FileManager.default.createFile(atPath: renamedPod + "/0.log", contents: nil)
        let id = String(repeating: String(index % 10), count: 64)
        try FileManager.default.createSymbolicLink(atPath: containersDir + "/web-\(index)_shop_app-\(id).log", withDestinationPath: renamedPod + "/0.log")
    }

    var counts: (audit: Int, renamed: Int, truncated: Int, rotations: Int) { lock.withLock { (audit, renamed, truncated, rotations) } }

    func stop() { lock.withLock { stopped = true } }

    /// Writes `perSecond` lines of each kind a second until stopped, rotating at `rotateBytes`.
    func run(perSecond: Int, rotateBytes: Int) {
        var rotated: [(path: String, at: Date)] = []
        let tick = 0.02
        let perTick = max(1, Int(Double(perSecond) * tick))
        while !lock.withLock({ stopped }) {
            let started = Date()
            var a = audit, r = renamed, t = truncated
            var auditLines: [String] = [], renamedLines: [String] = [], truncatedLines: [String] = []
            let now = Self.criTime()
            for _ in 0..<perTick {
                a += 1; auditLines.append(Self.auditEvent(node: index, n: a))
                r += 1; renamedLines.append("\(now) stdout F level=\(Self.level(r)) msg=\"served\" id=n\(index)-web-\(r)")
                t += 1; truncatedLines.append(Self.auditEvent(node: index, n: t, series: "legacy"))
            }
            append(auditDir + "/audit.log", auditLines)
            append(renamedPod + "/0.log", renamedLines)
            append(truncatedLog, truncatedLines)
            lock.withLock {
                audit = a; renamed = r; truncated = t
            }

            let stamp = Self.stamp()
            if size(auditDir + "/audit.log") > rotateBytes {
                let to = auditDir + "/audit-\(stamp).log"
                _ = rename(auditDir + "/audit.log", to)
                rotated.append((to, Date()))
                lock.withLock { rotations += 1 }
            }
            if size(renamedPod + "/0.log") > rotateBytes {
                let to = renamedPod + "/0.log.\(stamp)"
                _ = rename(renamedPod + "/0.log", to)
                _ = FileManager.default.createFile(atPath: renamedPod + "/0.log", contents: nil)
                rotated.append((to, Date()))
                lock.withLock { rotations += 1 }
            }
            if size(truncatedLog) > rotateBytes {
                // logrotate's copytruncate with `dateext`: the copy is not a *.log the agent
                // tails, but the agent reads from it what it had not read before the cut.
                let to = truncatedLog + "-\(stamp)"
                try? FileManager.default.copyItem(atPath: truncatedLog, toPath: to)
                _ = truncate(truncatedLog, 0)
                rotated.append((to, Date()))
                lock.withLock { rotations += 1 }
            }
            while let first = rotated.first, Date().timeIntervalSince(first.at) > keepRotated {
                try? FileManager.default.removeItem(atPath: first.path)
                rotated.removeFirst()
            }
            let spent = Date().timeIntervalSince(started)
            if spent < tick { Thread.sleep(forTimeInterval: tick - spent) }
        }
    }

    private func append(_ path: String, _ lines: [String]) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let data = Array((lines.joined(separator: "\n") + "\n").utf8)
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    private func size(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }

    static func stamp() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return "\(tv.tv_sec)-\(String(format: "%06d", Int(tv.tv_usec)))"
    }

    /// A realistic audit event stamped now, numbered `e2e-n<node>-<n>`: reads of Secrets, some of
    /// them refused, and changes by people and by controllers.
    static func auditEvent(node: Int, n number: Int, series: String = "") -> String {
        let n = series.isEmpty ? number : number * 7 + 3  // another log, other requests
        let users = ["alice@example.com", "system:serviceaccount:shop:deployer", "bob@example.com", "system:kube-controller-manager"]
        let (verb, resource) = [
            ("get", "secrets"), ("list", "pods"), ("delete", "pods"), ("patch", "deployments"),
            ("get", "configmaps"), ("create", "rolebindings")
        ][n % 6]
        let user = users[(n / 6) % users.count]
        let code = n % 13 == 0 ? 403 : n % 31 == 0 ? 401 : verb == "create" ? 201 : 200
        let group = resource == "deployments" ? "apps" : resource == "rolebindings" ? "rbac.authorization.k8s.io" : ""
        let now = criTime()
        return
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"e2e-n\#(node)-\#(series.isEmpty ? "" : series + "-")\#(number)","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/\#(resource)/item-\#(n % 7)","verb":"\#(verb)","user":{"username":"\#(user)","groups":["system:authenticated"]},"sourceIPs":["10.0.\#(node).\#(7 + n % 5)"],"userAgent":"kubectl/v1.32.0","objectRef":{"resource":"\#(resource)","namespace":"shop","name":"item-\#(n % 7)","apiGroup":"\#(group)","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":\#(code)},"requestReceivedTimestamp":"\#(now)","stageTimestamp":"\#(now)"}"#
    }

    /// A container line's level: mostly info, some warnings and errors.
    static func level(_ n: Int) -> String { n % 10 == 0 ? "error" : n % 7 == 0 ? "warn" : "info" }

    /// Now, as CRI stamps a line (RFC 3339, nanoseconds).
    static func criTime() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(ts.tv_nsec))
    }
}
