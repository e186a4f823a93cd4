import Foundation
import Testing
import TestSupport
@testable import KubetrailStore
@testable import KubetrailTables

/// Collects result rows as plain strings.
final class Collect: QuerySink {
    var columns: [String] = []
    var rows: [[String]] = []
    func begin(columns: [QueryColumn]) throws { self.columns = columns.map(\.name) }
    func row(_ values: [QueryValue]) throws {
        rows.append(
            values.map {
                switch $0 {
                case .null: return "NULL"
                case .int(let v): return String(v)
                case .real(let v): return String(v)
                case .text(let s): return s
                case .blob: return "BLOB"
                }
            })
    }
    func end() throws {}
}

/// The example queries of the product README, exactly as written there.
enum ReadmeQueries {
    static func all() throws -> [String] {
        let readme = try String(contentsOf: Fixtures.root.deletingLastPathComponent().appendingPathComponent("product-readme.md"), encoding: .utf8)
        let block = try #require(readme.components(separatedBy: "```sql\n").dropFirst().first?.components(separatedBy: "```").first)
        return block.components(separatedBy: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }
}

/// Loads data relative to "now" into a store of each backend and checks each README query
/// against answers computed here from the generated values, not through SQL.
@Suite struct ReadmeQueryTests {
    @Test(arguments: TestBackend.allCases) func recentErrorLogs(backend: TestBackend) throws { try ReadmeQueryCheck(backend).recentErrorLogs() }
    @Test(arguments: TestBackend.allCases) func backOffEvents(backend: TestBackend) throws { try ReadmeQueryCheck(backend).backOffEvents() }
    @Test(arguments: TestBackend.allCases) func podsPerNamespace(backend: TestBackend) throws { try ReadmeQueryCheck(backend).podsPerNamespace() }
    @Test(arguments: TestBackend.allCases) func failedAuthentication(backend: TestBackend) throws { try ReadmeQueryCheck(backend).failedAuthentication() }
    @Test(arguments: TestBackend.allCases) func secretAccess(backend: TestBackend) throws { try ReadmeQueryCheck(backend).secretAccess() }
    @Test(arguments: TestBackend.allCases) func administrativeActions(backend: TestBackend) throws { try ReadmeQueryCheck(backend).administrativeActions() }
    @Test(arguments: TestBackend.allCases) func timeFiltersUseAnIndex(backend: TestBackend) throws { try ReadmeQueryCheck(backend).timeFiltersUseAnIndex() }
    @Test(arguments: TestBackend.allCases) func listColumnsAreSearchable(backend: TestBackend) throws {
        try ReadmeQueryCheck(backend).listColumnsAreSearchable()
    }
    @Test(arguments: TestBackend.allCases) func likeIsCaseSensitiveAndIlikeIsNot(backend: TestBackend) throws {
        try ReadmeQueryCheck(backend).likeIsCaseSensitiveAndIlikeIsNot()
    }
    @Test(arguments: TestBackend.allCases) func sqlErrorsComeFromTheEngine(backend: TestBackend) throws {
        try ReadmeQueryCheck(backend).sqlErrorsComeFromTheEngine()
    }
}

/// The README queries' data in one store, and each query's check.
struct ReadmeQueryCheck {
    struct Audit {
        var id: String; var ts: Timestamp; var user: String; var verb: String; var resource: String; var ns: String; var name: String; var code: Int64;
        var ip: String
    }
    struct Log { var ts: Timestamp; var ns: String; var pod: String; var line: String; var level: String? }
    struct Ev {
        var uid: String; var ns: String; var object: String; var reason: String; var type: String; var message: String; var count: Int64; var last: Timestamp
    }
    struct Res { var uid: String; var kind: String; var ns: String }

    let backend: TestBackend
    let store: any Store
    let now = Timestamp.now
    var audits: [Audit] = []
    var logs: [Log] = []
    var events: [Ev] = []
    var resources: [Res] = []

    init(_ backend: TestBackend) throws {
        self.backend = backend
        store = try openStore(backend)
        var rng = SplitMix64(seed: 7)
        let users = ["alice", "bob@example.com", "system:serviceaccount:kube-system:replicaset-controller", "system:node:n1", "ci-bot"]
        let verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
        let resources = ["secrets", "pods", "configmaps", "deployments"]
        let codes: [Int64] = [200, 200, 201, 401, 403, 404]
        for i in 0..<600 {
            // Spread over three hours; keep clear of the one-hour boundary.
            var minutes = Int64(rng.next() % 180)
            if (58...62).contains(minutes) { minutes += 5 }
            let ts = now.adding(microseconds: -(minutes * 60_000_000 + Int64(i)))
            audits.append(
                Audit(
                    id: "a\(i)", ts: ts, user: users[Int(rng.next() % 5)], verb: verbs[Int(rng.next() % 7)],
                    resource: resources[Int(rng.next() % 4)], ns: "ns\(rng.next() % 3)", name: "obj\(i)",
                    code: codes[Int(rng.next() % 6)], ip: "10.0.0.\(i % 250)"))
        }
        let levels: [(String?, String)] = [
            ("ERROR", "level=error msg=\"db down\""), ("INFO", "level=info msg=ok"),
            ("WARN", "W1127 12:00:00.000000 1 x.go:1] slow"), (nil, "plain text")
        ]
        for i in 0..<400 {
            var minutes = Int64(rng.next() % 120)
            if (58...62).contains(minutes) { minutes += 5 }
            let (level, line) = levels[Int(rng.next() % 4)]
            logs.append(
                Log(
                    ts: now.adding(microseconds: -(minutes * 60_000_000 + Int64(i))), ns: "ns\(i % 3)", pod: "pod-\(i % 7)", line: line + " #\(i)", level: level
                ))
        }
        for i in 0..<60 {
            let reason = ["BackOff", "Pulled", "FailedMount"][i % 3]
            events.append(
                Ev(
                    uid: "e\(i)", ns: "ns\(i % 2)", object: "pod-\(i)", reason: reason, type: i % 4 == 0 ? "Normal" : "Warning",
                    message: "m\(i)", count: Int64(i + 1), last: now.adding(microseconds: -Int64(i) * 1_000_000)))
        }
        for i in 0..<50 {
            self.resources.append(Res(uid: "r\(i)", kind: ["Pod", "Service", "Pod", "Deployment"][i % 4], ns: "ns\(i % 3)"))
        }
        try load()
    }

    func load() throws {
        let ctx = IngestContext(clusterName: "test", sourceType: .auditFile)
        try store.write { w in
            for a in audits {
                let json = """
                    {"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"\(a.id)","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/\(a.ns)/\(a.resource)/\(a.name)","verb":"\(a.verb)","user":{"username":"\(a.user)"},"sourceIPs":["\(a.ip)"],"objectRef":{"resource":"\(a.resource)","namespace":"\(a.ns)","name":"\(a.name)"},"responseStatus":{"code":\(a.code)},"stageTimestamp":"\(a.ts.iso8601)"}
                    """
                AuditDecoder.decode(Array(json.utf8), context: ctx) { if case .row(let r) = $0 { _ = try? w.insert(r) } }
            }
            for (i, l) in logs.enumerated() {
                let n = PodLogNormalizer(
                    context: IngestContext(sourceType: .containerFile), path: ContainerLogPath(namespace: l.ns, podName: l.pod), nodeName: "n1",
                    fileIdentity: "f")
                _ = try w.insert(
                    n.row(.init(timestamp: l.ts, stream: "stdout", message: l.line, offset: Int64(i), lineNumber: i, truncated: false, incomplete: false)))
            }
            for e in events {
                let o = KubeObject([
                    "kind": "Event", "type": e.type, "reason": e.reason, "message": e.message, "count": e.count,
                    "lastTimestamp": e.last.iso8601, "metadata": ["uid": e.uid, "namespace": e.ns, "name": "ev", "resourceVersion": "1"],
                    "involvedObject": ["kind": "Pod", "name": e.object, "namespace": e.ns]
                ])
                _ = try w.insert(try EventNormalizer.row(o, context: IngestContext(sourceType: .apiWatch)))
            }
            for r in resources {
                let o = KubeObject(["kind": r.kind, "metadata": ["uid": r.uid, "namespace": r.ns, "name": r.uid, "resourceVersion": "1"]])
                _ = try w.insert(try ResourceNormalizer.row(o, context: IngestContext(sourceType: .apiWatch)))
            }
        }
    }

    func run(_ sql: String) throws -> [[String]] {
        let c = Collect()
        try store.query(sql, into: c)
        return c.rows
    }

    func recentErrorLogs() throws {
        let sql = try ReadmeQueries.all()[0]
        #expect(sql.contains("kubernetes_pod_logs"))
        let cutoff = now.adding(microseconds: -3_600_000_000)
        let expected = logs.filter { $0.level == "ERROR" && $0.ts > cutoff }.sorted { $0.ts > $1.ts }
            .map { [$0.ts.iso8601, $0.ns, $0.pod, $0.line] }
        #expect(!expected.isEmpty)
        #expect(try run(sql) == expected)
    }

    func backOffEvents() throws {
        let sql = try ReadmeQueries.all()[1]
        let expected = events.filter { $0.reason == "BackOff" && $0.type == "Warning" }.sorted { $0.last > $1.last }
            .map { [$0.ns, $0.object, $0.message, String($0.count)] }
        #expect(!expected.isEmpty)
        #expect(try run(sql) == expected)
    }

    func podsPerNamespace() throws {
        let sql = try ReadmeQueries.all()[2]
        let counts = Dictionary(grouping: resources.filter { $0.kind == "Pod" }, by: \.ns).mapValues(\.count)
        let got = try run(sql)
        #expect(Dictionary(uniqueKeysWithValues: got.map { ($0[0], Int($0[1])!) }) == counts)
    }

    func failedAuthentication() throws {
        let sql = try ReadmeQueries.all()[3]
        let cutoff = now.adding(microseconds: -3_600_000_000)
        let expected = audits.filter { [401, 403].contains($0.code) && $0.ts > cutoff }.sorted { $0.ts > $1.ts }
            .map { [$0.ts.iso8601, $0.user, "[\"\($0.ip)\"]", "/api/v1/namespaces/\($0.ns)/\($0.resource)/\($0.name)", String($0.code)] }
        #expect(!expected.isEmpty)
        #expect(try run(sql) == expected)
    }

    func secretAccess() throws {
        let sql = try ReadmeQueries.all()[4]
        let expected = audits.filter { $0.resource == "secrets" && ["get", "list"].contains($0.verb) }.sorted { $0.ts > $1.ts }
            .map { [$0.ts.iso8601, $0.user, $0.verb, $0.ns, $0.name, String($0.code)] }
        #expect(!expected.isEmpty)
        #expect(try run(sql) == expected)
    }

    func administrativeActions() throws {
        let sql = try ReadmeQueries.all()[5]
        let expected = audits.filter { ["create", "update", "patch", "delete"].contains($0.verb) && !$0.user.hasPrefix("system:") }
            .sorted { $0.ts > $1.ts }.map { [$0.ts.iso8601, $0.user, $0.verb, $0.resource, $0.ns, $0.name] }
        #expect(!expected.isEmpty)
        #expect(try run(sql) == expected)
    }

    func timeFiltersUseAnIndex() throws {
        if backend == .postgres { return try postgresTimeFiltersUseAnIndex() }
        for sql in try ReadmeQueries.all() where sql.contains("INTERVAL") {
            let plan = try store.explain(sql).joined(separator: "\n")
            #expect(plan.contains("USING INDEX"), "\(plan)")
        }
        // Who read which secret is answered from the index alone.
        let secrets = try store.explain(ReadmeQueries.all()[4]).joined(separator: "\n")
        #expect(secrets.contains("USING COVERING INDEX"), "\(secrets)")
    }

    /// PostgreSQL plans by statistics: the tables are analysed, as autovacuum would, and the
    /// time filter must reach the stage_timestamp index.
    func postgresTimeFiltersUseAnIndex() throws {
        let pg = try #require(store as? PostgresStore)
        try PostgresConnection(url: pg.url).execute("ANALYZE")
        for sql in try ReadmeQueries.all() where sql.contains("INTERVAL") {
            let plan = try store.explain(sql).joined(separator: "\n")
            #expect(plan.contains("Index") || plan.contains("Subplans Removed"), "\(plan)")
        }
    }

    func listColumnsAreSearchable() throws {
        // The portable spelling differs: SQLite has json_each, PostgreSQL text[] and ANY.
        let search = backend == .postgres ? "'10.0.0.7' = ANY(source_ips)" : "'10.0.0.7' IN (SELECT value FROM json_each(source_ips))"
        let got = try run("SELECT audit_id FROM kubernetes_audit_logs WHERE \(search) ORDER BY audit_id")
        #expect(got.map { $0[0] } == audits.filter { $0.ip == "10.0.0.7" }.map(\.id).sorted())
        let emails = try run(
            backend == .postgres
                ? "SELECT COUNT(*) FROM kubernetes_audit_logs WHERE 'bob@example.com' = ANY(tp_emails)"
                : "SELECT COUNT(*) FROM kubernetes_audit_logs, json_each(tp_emails) WHERE value = 'bob@example.com'")
        #expect(emails[0][0] == String(audits.filter { $0.user == "bob@example.com" }.count))
    }

    func likeIsCaseSensitiveAndIlikeIsNot() throws {
        let like = try run("SELECT COUNT(*) FROM kubernetes_audit_logs WHERE user_name LIKE 'ALICE'")
        let ilike = try run("SELECT COUNT(*) FROM kubernetes_audit_logs WHERE user_name ILIKE 'ALICE'")
        #expect(like[0][0] == "0")
        #expect(ilike[0][0] == String(audits.filter { $0.user == "alice" }.count))
    }

    func sqlErrorsComeFromTheEngine() throws {
        #expect(throws: StoreError.self) { _ = try run("SELECT nope FROM kubernetes_audit_logs") }
        do { _ = try run("SELEC 1") } catch { #expect("\(error)".contains("syntax error")) }
        // Queries are read-only even on a store opened for writing.
        #expect(throws: StoreError.self) { _ = try run("DELETE FROM kubernetes_audit_logs") }
        #expect(try run("SELECT COUNT(*) FROM kubernetes_audit_logs")[0][0] == String(audits.count))
    }
}
