import Foundation
import Testing
import TestSupport

/// `kubetrail detect` on Falco's recorded k8s-audit trace files, imported as a user would, on
/// each store: the findings' columns and values, the exit status, listing, rule selection, the
/// user's own rules and bad rule files.
@Suite struct DetectCommandTests {
    static let all = ["--from", "2010-01-01T00:00:00Z"]
    static let execAuditID = "ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6"  // exec_pod.json

    static func lab(_ backend: TestBackend) throws -> (TemporaryDirectory, String) {
        let dir = try TemporaryDirectory()
        let db = try backend.location(in: dir, name: "kt.db")
        let r = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/falco-trace-files").path, "--db", db])
        guard r.status == 0 else { throw ServerError(r.stderr) }
        return (dir, db)
    }

    static func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    @Test(arguments: TestBackend.allCases) func findingsCarryTheRuleAndTheAuditRow(backend: TestBackend) throws {
        let (dir, db) = try Self.lab(backend)
        defer { withExtendedLifetime(dir) {} }
        let r = try Subprocess.kubetrail(["detect", "--db", db, "-o", "jsonl"] + Self.all)
        #expect(r.status == 0, "\(r.stderr)")
        let findings = try Self.jsonLines(r.stdout)
        #expect(
            findings.first.map { Array($0.keys).sorted() } == [
                "audit_id", "event_time", "mitre", "name", "namespace", "resource", "rule_author", "rule_id",
                "rule_title", "severity", "source_ips", "stage", "user_name", "verb"
            ])
        let exec = try #require(
            findings.first { $0["audit_id"] as? String == Self.execAuditID && $0["rule_id"] as? String == "a1b0ca4e-7835-413e-8471-3ff2b8a66be6" })
        #expect(exec["rule_title"] as? String == "Potential Remote Command Execution In Pod Container")
        #expect(exec["rule_author"] as? String == "Leo Tsaousis (@laripping)")
        #expect(exec["severity"] as? String == "medium")
        #expect(exec["mitre"] as? [String] == ["TA0002", "T1609"])
        #expect(exec["stage"] as? String == "ResponseStarted" && exec["verb"] as? String == "create" && exec["resource"] as? String == "pods")
        #expect(exec["user_name"] as? String == "minikube-user" && exec["namespace"] as? String == "default")
        #expect(exec["event_time"] as? String == "2018-10-26T13:38:34.902914Z")
        #expect(exec["source_ips"] as? [String] == ["192.168.99.1"])
        // The privileged pods, the NodePort service, cluster-admin binding: kubetrail's own rules.
        let ids = Set(findings.compactMap { $0["rule_id"] as? String })
        let list = try Subprocess.kubetrail(["detect", "--list", "-o", "jsonl"])
        let byName = Dictionary(try Self.jsonLines(list.stdout).compactMap { row in (row["name"] as? String).map { ($0, row["id"] as! String) } }) { a, _ in a }
        for name in [
            "kubetrail_privileged_container", "kubetrail_nodeport_service", "kubetrail_cluster_admin_binding", "kubetrail_attach_to_pod",
            "kubetrail_anonymous_request_allowed", "kubetrail_wildcard_role", "kubetrail_sensitive_hostpath_mount", "kubetrail_hostnetwork_pod"
        ] {
            #expect(ids.contains(byName[name] ?? "?"), "\(name) found nothing in Falco's trace files")
        }
        #expect(r.stderr.contains("\(findings.count) findings ("), "\(r.stderr)")
        // Ordered by time.
        let times = findings.compactMap { $0["event_time"] as? String }
        #expect(times == times.sorted())
    }

    @Test(arguments: TestBackend.allCases) func exitStatusFollowsFailOn(backend: TestBackend) throws {
        let (dir, db) = try Self.lab(backend)
        defer { withExtendedLifetime(dir) {} }
        let high = try Subprocess.kubetrail(["detect", "--db", db, "--fail-on", "high"] + Self.all)
        #expect(high.status == 1, "\(high.stderr)")
        let critical = try Subprocess.kubetrail(["detect", "--db", db, "--fail-on", "critical"] + Self.all)
        #expect(critical.status == 0, "\(critical.stderr)")
        // The default window is the last 24 hours; these events are from 2018.
        let recent = try Subprocess.kubetrail(["detect", "--db", db, "--fail-on", "informational"])
        #expect(recent.status == 0 && recent.stderr.contains("0 findings from"), "\(recent.stderr)")
        #expect(recent.stdout.contains("rule_id"), "a table with no rows still has its header")
        let bad = try Subprocess.kubetrail(["detect", "--db", db, "--fail-on", "severe"])
        #expect(bad.status == 2 && bad.stderr.contains("--fail-on takes informational, low, medium, high or critical, not severe"))
    }

    @Test(arguments: TestBackend.allCases) func rulesCanBeChosenAndShownAsSQL(backend: TestBackend) throws {
        let (dir, db) = try Self.lab(backend)
        defer { withExtendedLifetime(dir) {} }
        let one = try Subprocess.kubetrail(["detect", "--db", db, "--rule", "kubetrail_attach_to_pod", "-o", "csv"] + Self.all)
        #expect(one.status == 0, "\(one.stderr)")
        let rows = one.stdout.split(separator: "\n").dropFirst()
        #expect(rows.count == 1 && rows.allSatisfy { $0.contains("Attach To A Running Container") }, "\(one.stdout)")
        // By file name and by id too.
        let byFile = try Subprocess.kubetrail(
            ["detect", "--db", db, "--rule", "kubernetes_audit_exec_into_container", "--rule", "a1b0ca4e-7835-413e-8471-3ff2b8a66be6", "-o", "csv"] + Self.all)
        #expect(byFile.stdout.split(separator: "\n").count == 2, "\(byFile.stdout)")
        let unknown = try Subprocess.kubetrail(["detect", "--db", db, "--rule", "no_such_rule"])
        #expect(unknown.status == 2 && unknown.stderr.contains("no rule has the id or name no_such_rule"))
        let sql = try Subprocess.kubetrail(["detect", "--db", db, "--rule", "kubetrail_privileged_container", "--show-sql"])
        #expect(sql.status == 0 && sql.stdout.contains("FROM kubernetes_audit_logs"))
        #expect(
            sql.stdout.contains(
                backend == .sqlite
                    ? "kubetrail_json_bool(\"request_object\", '[\"spec\",\"containers\",\"securityContext\",\"privileged\"]', 1)"
                    : "jsonb_path_exists(\"request_object\"::jsonb, 'lax $.\"spec\".\"containers\".\"securityContext\".\"privileged\"[*] ? (@ == true)')"),
            "\(sql.stdout)")
    }

    @Test func theListShowsThePack() throws {
        let r = try Subprocess.kubetrail(["detect", "--list", "-o", "jsonl"])
        #expect(r.status == 0, "\(r.stderr)")
        let rules = try Self.jsonLines(r.stdout)
        #expect(rules.count >= 40)
        #expect(rules.allSatisfy { !($0["id"] as? String ?? "").isEmpty && !($0["title"] as? String ?? "").isEmpty && $0["mitre"] is [String] })
        #expect(rules.filter { ($0["source"] as? String)?.hasPrefix("built-in:rules/sigmahq/") == true }.count == 16)
        let table = try Subprocess.kubetrail(["detect", "--list"])
        #expect(table.stdout.contains("| Binding To cluster-admin"), "\(table.stdout.prefix(500))")
    }

    @Test func usersRulesAddToAndReplaceThePack() throws {
        let (dir, db) = try Self.lab(.sqlite)
        let rules = dir.path("rules")
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        // A copy of a built-in rule with its level raised replaces it (same id).
        let builtIn = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("rules/kubetrail/kubetrail_attach_to_pod.yml"), encoding: .utf8)
        _ = try dir.write("rules/attach.yml", builtIn.replacingOccurrences(of: "level: medium", with: "level: critical"))
        _ = try dir.write(
            "rules/mine.yaml",
            """
            title: Anything by minikube-user
            id: 0f0f0f0f-0000-4000-8000-000000000001
            logsource: {product: kubernetes, service: audit}
            detection:
                selection:
                    user.username: minikube-user
                    verb: delete
                condition: selection
            level: low
            """)
        let r = try Subprocess.kubetrail(["detect", "--db", db, "--rules", rules, "--fail-on", "critical", "-o", "jsonl"] + Self.all)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("replaces the built-in rule"), "\(r.stderr)")
        let findings = try Self.jsonLines(r.stdout)
        #expect(findings.contains { $0["rule_title"] as? String == "Attach To A Running Container" && $0["severity"] as? String == "critical" })
        #expect(findings.filter { $0["rule_title"] as? String == "Anything by minikube-user" }.count >= 3)
        let only = try Subprocess.kubetrail(["detect", "--db", db, "--rules", dir.path("rules/mine.yaml"), "--no-builtin", "-o", "jsonl"] + Self.all)
        #expect(try Self.jsonLines(only.stdout).allSatisfy { $0["rule_title"] as? String == "Anything by minikube-user" })
        let none = try Subprocess.kubetrail(["detect", "--db", db, "--no-builtin"])
        #expect(none.status == 2 && none.stderr.contains("no rules to run"))
    }

    @Test func aBadRuleFileIsAnErrorNamingItsFileAndLine() throws {
        let dir = try TemporaryDirectory()
        let cases: [(String, String)] = [
            ("    sel:\n        requestURI|base64: x\n    condition: sel", ":8: base64: is not a modifier"),
            ("    sel:\n        nosuchfield: x\n    condition: sel", ":8: nosuchfield: is not a field"),
            ("    sel:\n        verb: get\n    condition: sel | count() > 5", "aggregation"),
            ("    sel:\n        sourceIPs|cidr: 10.0.0.300/8\n    condition: sel", ":8: sourceIPs|cidr: 10.0.0.300/8: is not a network"),
            ("    sel:\n        verb|re: '(unclosed'\n    condition: sel", ":8: verb|re: (unclosed: is not a regular expression")
        ]
        for (i, (detection, message)) in cases.enumerated() {
            let file = try dir.write(
                "bad\(i)/rule.yml", "title: t\nid: 1\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n" + detection + "\nlevel: low\n")
            let r = try Subprocess.kubetrail(["detect", "--rules", file, "--no-builtin", "--db", dir.path("none.db")])
            #expect(r.status == 2 && r.stderr.contains(file) && r.stderr.contains(message), "\(message): \(r.stderr)")
        }
        let notYAML = try dir.write("y/rule.yml", "title: [unclosed\n")
        let r = try Subprocess.kubetrail(["detect", "--rules", dir.path("y"), "--db", dir.path("none.db")])
        #expect(r.status == 2 && r.stderr.contains(notYAML) && r.stderr.contains("is not YAML"), "\(r.stderr)")
    }
}

extension DetectCommandTests {
    /// The README's `kubetrail detect` lines, as written, on a store of Falco's trace files.
    @Test func theReadmesDetectCommandsRun() throws {
        let readme = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Detections\n").dropFirst().first?.components(separatedBy: "\n## ").first)
        let lines = section.components(separatedBy: "```sh\n")[1].components(separatedBy: "```")[0].split(separator: "\n").map(String.init)
        #expect(lines.count == 4 && lines.allSatisfy { $0.hasPrefix("kubetrail detect ") })
        let (dir, db) = try Self.lab(.sqlite)
        defer { withExtendedLifetime(dir) {} }
        for line in lines {
            let arguments = Array(line.split(separator: " ").dropFirst().map(String.init))
            let r = try Subprocess.kubetrail(arguments, environment: ["KUBETRAIL_DB": db])
            // --fail-on high exits 1 only when something high was found; these events are from 2018.
            #expect(r.status == 0, "\(line): \(r.stderr)")
            // jsonl with nothing found prints nothing; the summary says so.
            #expect(!r.stdout.isEmpty || r.stderr.contains("0 findings from"), "\(line): \(r.stderr)")
        }
    }
}
