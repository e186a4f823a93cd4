import Foundation
import Testing
import TestSupport

/// docs/audit-policy.yaml, read by a YAML parser and evaluated the way kube-apiserver evaluates
/// a policy (the first matching rule sets the level): requests that carry credentials must get
/// Metadata, or their bodies (a TokenReview's bearer token) land in `request_object`.
@Suite struct AuditPolicyTests {
    struct Request {
        var user = "system:serviceaccount:apps:web"
        var verb: String
        var group: String
        var resource: String
        var subresource: String?
    }

    /// The policy's rules, as JSON from PyYAML (what the tests' Python already has).
    static func rules() throws -> [[String: Any]] {
        let path = Fixtures.repositoryRoot.appendingPathComponent("docs/audit-policy.yaml").path
        let r = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/python3"),
            ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path])
        guard r.status == 0 else { throw ServerError(r.stderr) }
        let policy = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(policy["kind"] as? String == "Policy")
        return policy["rules"] as! [[String: Any]]
    }

    /// The index and level of the first rule matching `request`, as the policy checker in
    /// k8s.io/apiserver/pkg/audit/policy decides it; a rule with a field it does not know fails.
    static func firstMatch(_ rules: [[String: Any]], _ request: Request) -> (index: Int, level: String)? {
        for (index, rule) in rules.enumerated() {
            let unknown = Set(rule.keys).subtracting(["level", "users", "verbs", "resources"])
            #expect(unknown.isEmpty, "rule \(index) uses \(unknown.sorted()), which this test does not evaluate")
            if let users = rule["users"] as? [String], !users.contains(request.user) { continue }
            if let verbs = rule["verbs"] as? [String], !verbs.contains(request.verb) { continue }
            if let groups = rule["resources"] as? [[String: Any]], !groups.contains(where: { matches($0, request) }) { continue }
            return (index, rule["level"] as! String)
        }
        return nil
    }

    static func matches(_ groupResources: [String: Any], _ request: Request) -> Bool {
        guard (groupResources["group"] as? String ?? "") == request.group else { return false }
        guard let names = groupResources["resources"] as? [String], !names.isEmpty else { return true }
        let combined = request.subresource.map { "\(request.resource)/\($0)" } ?? request.resource
        return names.contains { name in
            name == "*" || name == combined || name == "\(request.resource)/*"
                || (request.subresource.map { name == "*/\($0)" } ?? false)
        }
    }

    @Test func requestsCarryingCredentialsAreMatchedFirstByAMetadataRule() throws {
        let rules = try Self.rules()
        let credentials = [
            Request(verb: "create", group: "authentication.k8s.io", resource: "tokenreviews"),
            Request(verb: "create", group: "", resource: "serviceaccounts", subresource: "token"),
            Request(verb: "create", group: "authorization.k8s.io", resource: "subjectaccessreviews"),
            Request(verb: "create", group: "authorization.k8s.io", resource: "localsubjectaccessreviews"),
            Request(verb: "create", group: "", resource: "secrets"),
            Request(verb: "update", group: "", resource: "secrets"),
            Request(verb: "get", group: "", resource: "secrets"),
            Request(verb: "patch", group: "", resource: "configmaps")
        ]
        for request in credentials {
            let match = Self.firstMatch(rules, request)
            #expect(
                match?.level == "Metadata", "\(request.verb) \(request.resource)\(request.subresource.map { "/" + $0 } ?? ""): \(String(describing: match))")
        }
    }

    /// The safe rule must not swallow what the policy is for.
    @Test func otherRequestsKeepTheirLevels() throws {
        let rules = try Self.rules()
        #expect(
            Self.firstMatch(rules, Request(verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings"))?.level == "RequestResponse")
        #expect(Self.firstMatch(rules, Request(verb: "create", group: "apps", resource: "deployments"))?.level == "Request")
        #expect(Self.firstMatch(rules, Request(verb: "get", group: "", resource: "pods"))?.level == "Metadata")
        #expect(Self.firstMatch(rules, Request(user: "system:kube-proxy", verb: "watch", group: "", resource: "endpoints"))?.level == "None")
    }

    /// docs/deployment.md shows the policy to copy: it must be the file's rules, not an older,
    /// unsafe copy.
    @Test func theDeploymentGuideShowsThePolicyFile() throws {
        let root = Fixtures.repositoryRoot
        let policy = try String(contentsOf: root.appendingPathComponent("docs/audit-policy.yaml"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        let guide = try String(contentsOf: root.appendingPathComponent("docs/deployment.md"), encoding: .utf8)
        #expect(guide.contains("```yaml\n" + policy + "\n```"), "docs/deployment.md's policy differs from docs/audit-policy.yaml")
    }
}
