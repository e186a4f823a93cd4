import Foundation
import KubetrailCore

/// Writes realistic kube-apiserver audit events (JSON lines, `audit.k8s.io/v1`), shaped like the
/// fixtures: controllers polling, people using kubectl, RequestReceived/ResponseComplete and
/// watch stages, Metadata to RequestResponse levels, authz annotations, 401/403/404/409s,
/// secrets access, impersonation and exec. Deterministic for a given seed.
struct AuditEventGenerator {
    var rng: SplitMix64
    let start: Timestamp
    let end: Timestamp

    init(seed: UInt64, start: Timestamp, end: Timestamp) {
        rng = SplitMix64(seed: seed)
        self.start = start
        self.end = end
    }

    static let humans = ["alice@example.com", "bob@example.com", "carol", "dave", "oidc:erin@corp.example", "kube:admin", "ci-deployer"]
    static let controllers = [
        "system:serviceaccount:kube-system:replicaset-controller", "system:serviceaccount:kube-system:deployment-controller",
        "system:kube-controller-manager", "system:kube-scheduler", "system:node:ip-10-0-1-17.ec2.internal",
        "system:node:ip-10-0-2-9.ec2.internal", "system:serviceaccount:monitoring:prometheus", "system:apiserver"
    ]
    static let namespaces = ["default", "kube-system", "monitoring", "payments", "web", "ingress-nginx", "cert-manager", "argocd"]
    static let resources: [(resource: String, group: String, version: String)] = [
        ("pods", "", "v1"), ("configmaps", "", "v1"), ("services", "", "v1"), ("endpoints", "", "v1"),
        ("deployments", "apps", "v1"), ("replicasets", "apps", "v1"), ("leases", "coordination.k8s.io", "v1"),
        ("events", "", "v1"), ("nodes", "", "v1"), ("roles", "rbac.authorization.k8s.io", "v1"),
        ("secrets", "", "v1"), ("serviceaccounts", "", "v1")
    ]
    static let agents = [
        "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07",
        "kube-controller-manager/v1.32.4 (linux/amd64) kubernetes/4cb5f07/system:serviceaccount:kube-system:replicaset-controller",
        "kubelet/v1.32.4 (linux/amd64) kubernetes/4cb5f07", "Prometheus/2.53.0", "argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format"
    ]

    mutating func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }

    mutating func uuid() -> String {
        let a = rng.next(), b = rng.next()
        func hex(_ v: UInt64, _ n: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, n - s.count)) + s.suffix(n)
        }
        return "\(hex(a >> 32, 8))-\(hex((a >> 16) & 0xFFFF, 4))-4\(hex(a & 0xFFF, 3))-a\(hex(b >> 52, 3))-\(hex(b & 0xFFFF_FFFF_FFFF, 12))"
    }

    /// One event as a JSON line (with its trailing newline).
    mutating func next(index: Int, total: Int) -> String {
        let span = end.microseconds - start.microseconds
        let when = Timestamp(microseconds: start.microseconds + span * Int64(index) / Int64(max(total, 1)))
        let human = chance(25)
        let user = human ? pick(Self.humans) : pick(Self.controllers)
        var (resource, group, version) = pick(Self.resources)
        if resource == "secrets" && !chance(30) { (resource, group, version) = ("configmaps", "", "v1") }
        let namespaced = resource != "nodes"
        let ns = pick(Self.namespaces)
        let verb: String = {
            let r = rng.next() % 100
            if human { return r < 35 ? "get" : r < 60 ? "list" : r < 70 ? "create" : r < 80 ? "patch" : r < 88 ? "update" : r < 95 ? "delete" : "watch" }
            return r < 40 ? "get" : r < 60 ? "list" : r < 70 ? "watch" : r < 85 ? "update" : r < 95 ? "patch" : "create"
        }()
        let name = verb == "list" || verb == "create" && chance(50) ? nil : "\(resource.dropLast())-\(rng.next() % 500)"
        var code: Int64 = verb == "create" ? 201 : 200
        let r = rng.next() % 1000
        if r < 6 { code = 401 } else if r < 25 { code = 403 } else if r < 55 { code = 404 } else if r < 62 { code = 409 }
        let stage = verb == "watch" ? "ResponseStarted" : (chance(10) ? "RequestReceived" : "ResponseComplete")
        let level =
            resource == "secrets" || resource == "configmaps"
            ? "Metadata" : (["create", "update", "patch"].contains(verb) && chance(60) ? "RequestResponse" : (chance(30) ? "Request" : "Metadata"))
        let ip = human ? "203.0.113.\(rng.next() % 200 + 1)" : "10.0.\(rng.next() % 4).\(rng.next() % 250 + 1)"
        var uri = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced { uri += "/namespaces/\(ns)" }
        uri += "/\(resource)"
        if let name { uri += "/\(name)" }
        if verb == "list" { uri += "?limit=500&resourceVersion=0" }
        if verb == "watch" { uri += "?allowWatchBookmarks=true&resourceVersion=\(rng.next() % 9_000_000)&timeout=9m2s&timeoutSeconds=542&watch=true" }
        let received = when.adding(microseconds: -Int64(rng.next() % 40_000))
        let decision = code == 403 ? "forbid" : "allow"
        let reason =
            code == 403
            ? ""
            : (human
                ? "RBAC: allowed by ClusterRoleBinding \\\"cluster-admins\\\" of ClusterRole \\\"cluster-admin\\\" to Group \\\"system:masters\\\""
                : "RBAC: allowed by ClusterRoleBinding \\\"system:controller\\\" of ClusterRole \\\"system:controller\\\" to ServiceAccount \\\"controller/kube-system\\\"")

        var s = "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"\(level)\",\"auditID\":\"\(uuid())\",\"stage\":\"\(stage)\","
        s +=
            "\"requestURI\":\"\(uri)\",\"verb\":\"\(verb)\",\"user\":{\"username\":\"\(user)\",\"uid\":\"\(uuid())\",\"groups\":[\(human ? "\"system:authenticated\",\"platform-team\"" : "\"system:serviceaccounts\",\"system:serviceaccounts:kube-system\",\"system:authenticated\"")]"
        if user.hasPrefix("system:serviceaccount:") {
            s +=
                ",\"extra\":{\"authentication.kubernetes.io/credential-id\":[\"JTI=\(uuid())\"],\"authentication.kubernetes.io/node-name\":[\"ip-10-0-1-17.ec2.internal\"]}"
        }
        s += "},"
        if human && chance(3) { s += "\"impersonatedUser\":{\"username\":\"system:serviceaccount:\(ns):deployer\",\"groups\":[\"system:serviceaccounts\"]}," }
        s += "\"sourceIPs\":[\"\(ip)\"],\"userAgent\":\"\(human ? Self.agents[0] : pick(Self.agents))\","
        s += "\"objectRef\":{\"resource\":\"\(resource)\","
        if namespaced { s += "\"namespace\":\"\(ns)\"," }
        if let name { s += "\"name\":\"\(name)\"," }
        if !group.isEmpty { s += "\"apiGroup\":\"\(group)\"," }
        s += "\"apiVersion\":\"\(version)\"},"
        if stage != "RequestReceived" {
            s += "\"responseStatus\":{\"metadata\":{},"
            if code >= 400 {
                let why = code == 401 ? "Unauthorized" : code == 403 ? "Forbidden" : code == 404 ? "NotFound" : "Conflict"
                s +=
                    "\"status\":\"Failure\",\"message\":\"\(resource) \\\"\(name ?? "")\\\" is \(why.lowercased()): User \\\"\(user)\\\" cannot \(verb) resource \\\"\(resource)\\\" in namespace \\\"\(ns)\\\"\",\"reason\":\"\(why)\","
            }
            s += "\"code\":\(code)},"
        }
        if level == "RequestResponse" || level == "Request" {
            s +=
                "\"requestObject\":{\"kind\":\"\(resource.prefix(1).uppercased() + resource.dropFirst().dropLast())\",\"apiVersion\":\"\(group.isEmpty ? version : group + "/" + version)\",\"metadata\":{\"name\":\"\(name ?? "generated")\",\"namespace\":\"\(ns)\",\"labels\":{\"app\":\"web\",\"tier\":\"frontend\"}},\"spec\":{\"replicas\":\(rng.next() % 5 + 1)}},"
        }
        if level == "RequestResponse" {
            s +=
                "\"responseObject\":{\"metadata\":{\"name\":\"\(name ?? "generated")\",\"uid\":\"\(uuid())\",\"resourceVersion\":\"\(rng.next() % 9_000_000)\"},\"status\":{\"readyReplicas\":\(rng.next() % 5)}},"
        }
        s += "\"requestReceivedTimestamp\":\"\(received.iso8601)\",\"stageTimestamp\":\"\(when.iso8601)\","
        s += "\"annotations\":{\"authorization.k8s.io/decision\":\"\(decision)\",\"authorization.k8s.io/reason\":\"\(reason)\"}}\n"
        return s
    }

    /// Writes `count` events to `path`; returns the byte count.
    static func write(count: Int, to path: String, seed: UInt64 = 1, start: Timestamp, end: Timestamp) throws -> Int64 {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw IOError(path: path, message: "cannot create") }
        defer { try? handle.close() }
        var generator = AuditEventGenerator(seed: seed, start: start, end: end)
        var buffer = ""
        var written: Int64 = 0
        for i in 0..<count {
            buffer += generator.next(index: i, total: count)
            if buffer.utf8.count > 1 << 20 {
                try handle.write(contentsOf: Data(buffer.utf8))
                written += Int64(buffer.utf8.count)
                buffer = ""
            }
        }
        try handle.write(contentsOf: Data(buffer.utf8))
        return written + Int64(buffer.utf8.count)
    }
}

extension AuditEventGenerator {
    /// Batch `b` of `count` as an agent on one of four nodes sends it: 1,000 events of one
    /// audit file; `line` sees each event's bytes.
    mutating func batch(_ b: Int, of count: Int, line seen: ([UInt8]) -> Void = { _ in }) -> WireBatchEncoder {
        var encoder = WireBatchEncoder(node: "node-\(b % 4)", cluster: "bench")
        let source = WireFormat.Source(kind: .auditLine, path: "/var/log/kube-audit/audit.log", identity: "dev:ino:\(b)")
        var offset: UInt64 = 0
        for i in 0..<1000 {
            var line = Array(next(index: b * 1000 + i, total: count * 1000).utf8)
            line.removeLast()
            seen(line)
            encoder.append(source, offset: offset, bytes: line)
            offset += UInt64(line.count + 1)
        }
        return encoder
    }
}
