import Foundation
import Testing
import TestSupport

/// `kubetrail report` on a hand-made audit log where every section's answer is known, as
/// Markdown and as HTML (checked by Python's HTML parser), plus the integrity section.
@Suite struct ReportCommandTests {
    static func event(
        _ id: String, _ time: String, user: String, verb: String, resource: String? = nil, sub: String? = nil,
        group: String = "", ns: String? = nil, name: String? = nil, code: Int = 200, impersonated: String? = nil,
        uri: String = "/api", agent: String = "kubectl/v1.32", stage: String = "ResponseComplete"
    ) -> String {
        var ref: [String: Any] = [:]
        if let resource { ref["resource"] = resource; ref["apiGroup"] = group; ref["apiVersion"] = "v1" }
        if let sub { ref["subresource"] = sub }
        if let ns { ref["namespace"] = ns }
        if let name { ref["name"] = name }
        var e: [String: Any] = [
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id, "stage": stage,
            "requestURI": uri, "verb": verb,
            "user": ["username": user, "groups": user == "system:anonymous" ? ["system:unauthenticated"] : ["system:authenticated"]],
            "sourceIPs": ["10.0.0.7"], "userAgent": agent, "responseStatus": ["metadata": [:], "code": code],
            "requestReceivedTimestamp": time, "stageTimestamp": time
        ]
        if !ref.isEmpty { e["objectRef"] = ref }
        if let impersonated { e["impersonatedUser"] = ["username": impersonated] }
        return String(decoding: try! JSONSerialization.data(withJSONObject: e, options: [.sortedKeys]), as: UTF8.self)
    }

    static let log =
        [
            event("1", "2026-11-20T10:01:00.000000Z", user: "bob", verb: "get", resource: "secrets", ns: "prod", name: "db|pass", stage: "RequestReceived"),
            event("1", "2026-11-20T10:01:00.000000Z", user: "bob", verb: "get", resource: "secrets", ns: "prod", name: "db|pass"),
            event("2", "2026-11-20T10:02:00.000000Z", user: "bob", verb: "get", resource: "pods", ns: "prod", code: 403),
            event("3", "2026-11-20T10:03:00.000000Z", user: "system:anonymous", verb: "get", code: 401, uri: "/api?x=<script>alert(1)</script>"),
            event(
                "4", "2026-11-20T10:04:00.000000Z", user: "alice", verb: "create", resource: "deployments", group: "apps", ns: "prod", name: "web", code: 201),
            event(
                "5", "2026-11-20T10:05:00.000000Z", user: "alice", verb: "create", resource: "pods", sub: "exec", ns: "prod", name: "web-7f9c", code: 101,
                uri: "/api/v1/namespaces/prod/pods/web-7f9c/exec?command=sh"),
            event(
                "6", "2026-11-20T11:06:00.000000Z", user: "alice", verb: "create", resource: "rolebindings", group: "rbac.authorization.k8s.io", ns: "prod",
                name: "admins", code: 201),
            event(
                "7", "2026-11-20T11:07:00.000000Z", user: "system:serviceaccount:kube-system:deployer", verb: "patch", resource: "clusterroles",
                group: "rbac.authorization.k8s.io", name: "view"),
            event("8", "2026-11-20T11:08:00.000000Z", user: "alice", verb: "get", resource: "pods", ns: "prod", impersonated: "carol"),
            event(
                "9", "2026-11-20T11:09:00.000000Z", user: "system:kube-controller-manager", verb: "update", resource: "leases", group: "coordination.k8s.io",
                ns: "kube-system"),
            event("10", "2026-11-25T09:00:00.000000Z", user: "bob", verb: "get", resource: "secrets", ns: "prod", name: "later")
        ].joined(separator: "\n") + "\n"

    static func lab(_ backend: TestBackend = .sqlite) throws -> (TemporaryDirectory, String) {
        let dir = try TemporaryDirectory()
        let file = try dir.write("audit.log", log)
        let db = try backend.location(in: dir, name: "kt.db")
        let r = try Subprocess.kubetrail(["import", "audit", file, "--db", db])
        guard r.status == 0 else { throw ServerError(r.stderr) }
        return (dir, db)
    }

    static let range = ["--from", "2026-11-20T00:00:00Z", "--to", "2026-11-21T00:00:00Z"]

    @Test(arguments: TestBackend.allCases) func markdownCountsEachSectionAndListsItsEvents(backend: TestBackend) throws {
        let (dir, db) = try Self.lab(backend)
        defer { withExtendedLifetime(dir) {} }
        let r = try Subprocess.kubetrail(["report", "--db", db] + Self.range)
        #expect(r.status == 0, "\(r.stderr)")
        let md = r.stdout
        for (title, count) in [
            ("Failed authentication and authorization", 2), ("Secret access", 1), ("Administrative actions by people", 3),
            ("Exec, attach and port-forward into pods", 1), ("RBAC changes", 2), ("Anonymous requests", 1), ("Impersonation", 1)
        ] {
            #expect(md.contains("| \(title) | \(count) |"), "\(title) should count \(count)")
        }
        #expect(md.contains("| Audit events | 9 from 5 users; 2 denied (401/403) |"), "\(md.prefix(600))")
        #expect(md.contains("db\\|pass") && !md.contains("later"))
        // A logged URI is text in the ticket, never markup: no raw HTML, no link syntax.
        #expect(md.contains("/api?x=&lt;script&gt;alert(1)&lt;/script&gt;") && !md.contains("<script"))
        #expect(md.contains("| 2026-11-20T10:05:00.000000Z | alice | exec | prod | web-7f9c |"))
        #expect(md.contains("| 2026-11-20T11:08:00.000000Z | alice | carol | get | pods | prod |"))
        // 24 hourly buckets; 10:00 has five events (two denied), 11:00 four; the quiet hours
        // before and after are a line each.
        let bars = md.split(separator: "\n").filter { $0.hasPrefix("2026-11-20T") }
        #expect(bars.count == 4, "\(bars)")
        #expect(
            bars.contains { $0.hasPrefix("2026-11-20T10") && $0.hasSuffix(" 5 (2 denied)") }
                && bars.contains { $0.hasPrefix("2026-11-20T11") && $0.hasSuffix(" 4") })
        #expect(bars.first?.hasPrefix("2026-11-20T00 – 2026-11-20T09 ") == true && bars.first?.hasSuffix(" 0 (10 hours)") == true, "\(bars)")
        #expect(bars.last?.hasPrefix("2026-11-20T12 – 2026-11-20T23 ") == true && bars.last?.hasSuffix(" 0 (12 hours)") == true, "\(bars)")
        #expect(md.contains("No problem found."))
    }

    /// Years of quiet months are one line in Markdown, every month in the HTML chart.
    @Test func aLongPeriodsQuietMonthsAreOneLine() throws {
        let (dir, db) = try Self.lab()
        defer { withExtendedLifetime(dir) {} }
        let range = ["--from", "2020-01-01T00:00:00Z", "--to", "2027-01-01T00:00:00Z"]
        let md = try Subprocess.kubetrail(["report", "--db", db] + range)
        #expect(md.status == 0, "\(md.stderr)")
        let chart = md.stdout.components(separatedBy: "## Activity per month\n\n```text\n").last?.components(separatedBy: "```").first ?? ""
        let lines = chart.split(separator: "\n")
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.first?.hasPrefix("2020-01 – 2026-10 ") == true && lines.first?.hasSuffix(" 0 (82 months)") == true, "\(lines)")
        #expect(lines.dropFirst().first?.hasPrefix("2026-11 ") == true && lines.dropFirst().first?.hasSuffix(" 10 (2 denied)") == true, "\(lines)")
        #expect(lines.last?.hasPrefix("2026-12 ") == true && lines.last?.hasSuffix(" 0") == true, "\(lines)")
        let html = try Subprocess.kubetrail(["report", "--db", db, "--format", "html"] + range)
        #expect(html.stdout.contains("2020-02") && html.stdout.contains("2026-10"))
    }

    @Test(arguments: TestBackend.allCases) func htmlIsSelfContainedWellFormedAndEscaped(backend: TestBackend) throws {
        let (dir, db) = try Self.lab(backend)
        let out = dir.path("report.html")
        let r = try Subprocess.kubetrail(["report", "--db", db, "--out", out] + Self.range)
        #expect(r.status == 0 && r.stdout.contains("9 audit events"), "\(r.stderr)")
        let checked = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/python3"),
            [
                "-c",
                """
                import sys, json
                from html.parser import HTMLParser
                VOID = {'meta', 'br', 'img', 'input', 'link', 'hr', 'rect'}
                class P(HTMLParser):
                    def __init__(self):
                        super().__init__(); self.stack = []; self.errors = []; self.external = []; self.tags = {}; self.text = []
                    def handle_starttag(self, tag, attrs):
                        self.tags[tag] = self.tags.get(tag, 0) + 1
                        for k, v in attrs:
                            if k in ('src', 'href') and v and not v.startswith('#'): self.external.append(v)
                        if tag not in VOID: self.stack.append(tag)
                    def handle_startendtag(self, tag, attrs): self.tags[tag] = self.tags.get(tag, 0) + 1
                    def handle_endtag(self, tag):
                        if tag in VOID: return
                        if not self.stack or self.stack[-1] != tag: self.errors.append(f'</{tag}> closes {self.stack[-1:]}')
                        else: self.stack.pop()
                    def handle_data(self, d): self.text.append(d)
                p = P(); p.feed(open(sys.argv[1], encoding='utf-8').read()); p.close()
                print(json.dumps({'errors': p.errors, 'open': p.stack, 'external': p.external, 'tags': p.tags, 'text': ''.join(p.text)}))
                """, out
            ])
        #expect(checked.status == 0, "\(checked.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(checked.stdout.utf8)) as! [String: Any]
        #expect((result["errors"] as! [String]).isEmpty && (result["open"] as! [String]).isEmpty, "\(result["errors"]!) \(result["open"]!)")
        #expect((result["external"] as! [String]).isEmpty)
        let tags = result["tags"] as! [String: Int]
        #expect(tags["script"] == nil && tags["svg"] == 1 && tags["g"] == 24, "\(tags)")
        let text = result["text"] as! String
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.contains("/api?x=<script>alert(1)</script>") && !html.contains("<script") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(text.contains("db|pass") && text.contains("web-7f9c") && text.contains("No problem found."))
    }

    @Test(arguments: TestBackend.allCases) func tamperingShowsInTheIntegritySection(backend: TestBackend) throws {
        let (dir, db) = try Self.lab(backend)
        defer { withExtendedLifetime(dir) {} }
        try TestBackend.behindTheBack(db, "DELETE FROM \(backend == .sqlite ? "kubetrail_audit_rows" : "kubernetes_audit_logs") WHERE audit_id = '5'")
        let r = try Subprocess.kubetrail(["report", "--db", db] + Self.range)
        #expect(r.status == 0 && r.stdout.contains("**1 problems found.**") && r.stdout.contains("deleted: row"), "\(r.stdout.prefix(1200))")
    }

    @Test func badFlagsAreRefused() throws {
        let (dir, db) = try Self.lab()
        defer { withExtendedLifetime(dir) {} }
        let f = try Subprocess.kubetrail(["report", "--db", db, "--format", "pdf"])
        #expect(f.status == 2 && f.stderr.contains("--format takes markdown or html"))
        let order = try Subprocess.kubetrail(["report", "--db", db, "--from", "2026-11-21T00:00:00Z", "--to", "2026-11-20T00:00:00Z"])
        #expect(order.status == 2 && order.stderr.contains("--from must be before --to"))
    }
}
