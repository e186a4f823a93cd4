import Foundation
import Testing
import TestSupport
import KubetrailCore
import KubetrailCollect
@testable import KubetrailKube

@Suite struct KubernetesConfigTests {
    /// The product README's HCL examples, in order.
    func productExamples() throws -> [String] {
        let url = Fixtures.repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/product-readme.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        return text.components(separatedBy: "```hcl\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
    }

    @Test func ourReadmesCollectExampleParsesAndMeansWhatItSays() throws {
        let readme = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = readme.components(separatedBy: "```hcl\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
        let block = try #require(blocks.first { $0.contains("connection \"kubernetes\"") })
        var config = KubernetesConfig()
        try config.apply(block, file: "readme.tpc", home: "/home/ops")
        let c = try #require(config.connection)
        #expect(c.kubeconfigPath == "/home/ops/.kube/config" && !c.serviceAccount)
        #expect(c.namespaces == ["kube-system", "default"])
        #expect(c.sinceTime == .ago(seconds: 900))
        #expect(c.since(now: Timestamp(seconds: 10_000)) == Timestamp(seconds: 9_100))
        #expect(c.clusterName == "talos")
        #expect(config.auditSource.apiOnly && config.auditSource.methods == [.apiserver, .daemonset] && config.auditSource.readsThroughAPI)
    }

    @Test func everyProductReadmeExampleParsesAndMeansWhatItSays() throws {
        let examples = try productExamples()
        #expect(examples.count == 3)
        var first = KubernetesConfig()
        try first.apply(examples[0], file: "example1.tpc", home: "/home/ops")
        let c = try #require(first.connection)
        #expect(c.kubeconfigPath == "/home/ops/.kube/config")
        #expect(c.kubeconfigContext == "production-cluster")
        #expect(c.namespaces == ["*"] && c.allows(namespace: "anything"))
        #expect(c.followLogs && c.includeEvents)
        #expect(c.sinceTime == .ago(seconds: 3600))

        var second = KubernetesConfig()
        try second.apply(examples[1], file: "example2.tpc", home: "/home/ops")
        #expect(second.auditSource.method == .file)
        #expect(second.auditSource.methods == [.file])
        #expect(second.auditSource.auditLogPaths == ["/var/log/audit/kube/kube-apiserver.log", "/var/log/kube-audit/audit.log"])

        var third = KubernetesConfig()
        try third.apply(examples[2], file: "example3.tpc", home: "/home/ops")
        let api = try #require(third.connection)
        #expect(api.namespaces == ["kube-system", "default"])
        #expect(api.allows(namespace: "default") && !api.allows(namespace: "shop"))
        #expect(api.sinceTime == .ago(seconds: 900))
        #expect(api.clusterName == "talos")
        #expect(third.auditSource.apiOnly)
        #expect(third.auditSource.methods == [.apiserver, .daemonset])
        // Without a source block the README's order applies.
        #expect(first.auditSource.methods == [.file, .apiserver, .daemonset])
    }

    @Test func filesInTheConfigDirectoryAndConfigFlagsAreReadTogether() throws {
        let dir = try TemporaryDirectory()
        try dir.write("config/kubernetes.tpc", "connection \"kubernetes\" {\n  service_account = true\n  since_time = \"2026-11-27T10:00:00Z\"\n}\n")
        try dir.write("config/other.txt", "not read")
        let extra = try dir.write(
            "extra.tpc", "source \"kubernetes_audit_logs\" {\n  method = \"apiserver\"\n}\naggregator {\n  listen = \"0.0.0.0:8443\"\n}\n")
        let config = try KubernetesConfig.load(directory: dir.path("config"), extra: [extra], home: "/h")
        #expect(config.connection?.serviceAccount == true)
        #expect(config.connection?.sinceTime == .at(try #require(Timestamp(rfc3339: "2026-11-27T10:00:00Z"))))
        #expect(config.auditSource.methods == [.apiserver])
        // A second definition names the first.
        let again = try dir.write("again.tpc", "\n\nconnection \"kubernetes\" {\n}\n")
        #expect { try KubernetesConfig.load(directory: dir.path("config"), extra: [again], home: "/h") } throws: {
            "\($0)" == "\(again):3: connection \"kubernetes\" is already defined at \(dir.path("config/kubernetes.tpc")):1"
        }
    }

    @Test(arguments: [
        ("connection \"kubernetes\" {\n  namespace = \"*\"\n  follow_log = true\n}\n", ":3: unknown option follow_log in connection \"kubernetes\""),
        ("source \"kubernetes_audit_logs\" {\n  method = \"ssh\"\n}\n", ":2: method must be one of file, apiserver, daemonset, not \"ssh\""),
        (
            "connection \"kubernetes\" {\n  since_time = \"yesterday\"\n}\n",
            ":2: since_time must be a duration such as \"1h\" or \"15m\", or an RFC 3339 time, not \"yesterday\""
        ),
        ("connection \"kubernetes\" {\n  follow_logs = \"yes\"\n}\n", ":2: follow_logs must be true or false, not a string"),
        (
            "connection \"kubernetes\" {\n  service_account = true\n  kubeconfig_path = \"~/.kube/config\"\n}\n",
            ":1: service_account = true cannot be combined with kubeconfig_path"
        ),
        ("source \"kubernetes_audit_logs\" {\n  api_only = true\n  method = \"file\"\n}\n", ":1: api_only = true and method = \"file\" contradict each other"),
        ("connection \"aws\" {\n}\n", ":1: unknown connection \"aws\"")
    ])
    func mistakesNameTheFileLineAndOption(text: String, message: String) throws {
        var config = KubernetesConfig()
        #expect { try config.apply(text, file: "k.tpc", home: "/h") } throws: { "\($0)".hasPrefix("k.tpc" + message) }
    }
}

/// The ClusterRole the manifests ship grants what the pollers and log readers ask for — list and
/// watch on every collection, get on pods and pods/log — and nothing that writes.
@Suite struct ManifestRBACTests {
    @Test func theClusterRoleCoversEveryCollectionAndOnlyReads() throws {
        let text = try Manifests.text("rbac.yaml")
        let role = try #require(text.components(separatedBy: "---").first { $0.contains("kind: ClusterRole\n") })
        // rules: "- apiGroups: [g]" then resources (possibly over two lines) then verbs.
        var granted: [String: Set<String>] = [:]
        for rule in role.components(separatedBy: "- apiGroups:").dropFirst() {
            let group = rule.prefix { $0 != "\n" }.trimmingCharacters(in: CharacterSet(charactersIn: " []\""))
            let resourcesText = rule.components(separatedBy: "resources:")[1].components(separatedBy: "verbs:")[0]
            let verbsText = rule.components(separatedBy: "verbs:")[1].prefix { $0 != "\n" }
            let resources = resourcesText.components(separatedBy: CharacterSet(charactersIn: "[], \n")).filter { !$0.isEmpty }
            let verbs = Set(verbsText.components(separatedBy: CharacterSet(charactersIn: "[], ")).filter { !$0.isEmpty })
            #expect(verbs.isSubset(of: ["get", "list", "watch"]), "\(verbs)")
            for r in resources { granted[group.isEmpty ? r : "\(group)/\(r)", default: []].formUnion(verbs) }
        }
        for collection in ClusterPollers.standard {
            let parts = collection.path.split(separator: "/")
            let key = parts[0] == "api" ? String(parts.last!) : "\(parts[1])/\(parts.last!)"
            #expect(granted[key, default: []].isSuperset(of: ["list", "watch"]), "\(collection.path) is not granted: \(key)")
        }
        #expect(granted["pods", default: []].contains("get") && granted["pods/log", default: []].contains("get"))
    }
}
