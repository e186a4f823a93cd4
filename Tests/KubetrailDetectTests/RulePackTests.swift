import Foundation
import Testing
import TestSupport
import KubetrailTables
@testable import KubetrailDetect

/// The built-in pack: every rule finds its positive events and not its negative ones, on both
/// stores. The events are Falco's recorded k8s-audit trace files, or one of them with the
/// fields the rule is about changed.
@Suite struct RulePackTests {
    struct Case {
        var rule: String
        var positives: [AuditEvent]
        var negatives: [AuditEvent]
    }

    static func f(_ name: String) throws -> AuditEvent { try AuditEvent(fixture: "audit/falco-trace-files/\(name).json") }

    static func cases() throws -> [Case] {
        let exec = try f("exec_pod")  // minikube-user (system:masters), pods/exec in default
        let pod = try f("create_nginx_pod_unprivileged")  // replicaset-controller creates a pod
        let deployment = try f("create_deployment")  // minikube-user, extensions/v1beta1
        let role = try f("create_clusterrole")  // pods get/list
        let container: ([String: Any]) -> [[String: Any]] = { extra in [["name": "c", "image": "nginx"].merging(extra) { $1 }] }
        func object(_ resource: String, _ extra: [String: Any] = [:]) -> [String: Any] {
            ["resource": resource, "apiVersion": "v1"].merging(extra) { $1 }
        }
        return [
            // SigmaHQ's rules, by file name.
            Case(
                rule: "kubernetes_audit_change_admission_controller",
                positives: [role.with("objectRef", object("validatingwebhookconfigurations", ["apiGroup": "admissionregistration.k8s.io"]))],
                negatives: [role.with("objectRef", object("validatingwebhookconfigurations", ["apiGroup": "admissionregistration.k8s.io"])).with("verb", "get")]
            ),
            Case(
                rule: "kubernetes_audit_cronjob_modification",
                positives: [deployment.with("objectRef", object("cronjobs", ["apiGroup": "batch", "namespace": "default"]))],
                negatives: [deployment.with("objectRef", object("cronjobs", ["apiGroup": "batch", "namespace": "default"])).with("verb", "list")]),
            Case(rule: "kubernetes_audit_deployment_deleted", positives: [try f("delete_deployment")], negatives: [deployment]),
            Case(
                rule: "kubernetes_audit_events_deleted",
                positives: [exec.with("verb", "delete").with("objectRef", object("events", ["namespace": "default"]))],
                negatives: [exec.with("verb", "get").with("objectRef", object("events", ["namespace": "default"]))]),
            Case(rule: "kubernetes_audit_exec_into_container", positives: [exec], negatives: [try f("attach_pod")]),
            Case(rule: "kubernetes_audit_hostpath_mount", positives: [try f("create_nginx_pod_sensitive_mount")], negatives: [pod]),
            Case(
                rule: "kubernetes_audit_pod_in_system_namespace", positives: [try f("create_pod_kube_system_namespace")],
                negatives: [try f("create_pod_kube_public_namespace")]),
            Case(
                rule: "kubernetes_audit_potential_enumeration_activity",
                positives: [exec.with("requestURI", "/api/v1/namespaces/default/pods/p/exec?command=%2Fbin%2Fbash&stdin=true")],
                negatives: [
                    exec.with("requestURI", "/api/v1/namespaces/default/pods/p/exec?command=%2Fbin%2Fbash&stdin=true")
                        .annotation("authorization.k8s.io/decision", "forbid")
                ]),
            Case(
                rule: "kubernetes_audit_privileged_pod_creation",
                positives: [pod.with("requestObject.spec.containers", container(["securityContext": ["capabilities": ["add": ["NET_ADMIN"]]]]))],
                negatives: [pod]),
            Case(
                rule: "kubernetes_audit_rbac_permisions_listing",
                positives: [exec.with("objectRef", object("selfsubjectrulesreviews", ["apiGroup": "authorization.k8s.io"]))],
                negatives: [exec.with("objectRef", object("selfsubjectaccessreviews", ["apiGroup": "authorization.k8s.io"]))]),
            Case(rule: "kubernetes_audit_rolebinding_modification", positives: [try f("create_clusterrolebinding")], negatives: [role]),
            Case(
                rule: "kubernetes_audit_secrets_enumeration",
                positives: [exec.with("verb", "list").with("objectRef", object("secrets", ["namespace": "default"]))],
                negatives: [exec.with("verb", "get").with("objectRef", object("secrets", ["namespace": "default"]))]),
            Case(rule: "kubernetes_audit_secrets_modified_or_deleted", positives: [try f("delete_secret")], negatives: [try f("delete_configmap")]),
            Case(rule: "kubernetes_audit_serviceaccount_creation", positives: [try f("create_serviceaccount")], negatives: [try f("delete_serviceaccount")]),
            Case(
                rule: "kubernetes_audit_sidecar_injection",
                positives: [deployment.with("verb", "patch").with("objectRef.apiGroup", "apps")], negatives: [deployment]),
            Case(
                rule: "kubernetes_audit_unauthorized_unauthenticated_actions",
                positives: [exec.with("responseStatus.code", 403), exec.with("responseStatus.code", 401)], negatives: [exec]),

            // kubetrail's own.
            Case(
                rule: "kubetrail_privileged_container",
                positives: [
                    try f("create_nginx_pod_privileged"), try f("create_nginx_pod_privileged_2nd_container"),
                    try f("create_nginx_pod_no_secctx_1st_container_privileged_2nd_container"),
                    deployment.with("requestObject.spec.template.spec.initContainers", container(["securityContext": ["privileged": true]])),
                    deployment.with("objectRef.resource", "cronjobs")
                        .with("requestObject.spec.jobTemplate.spec.template.spec.containers", container(["securityContext": ["privileged": true]]))
                ],
                negatives: [pod, deployment, pod.with("requestObject.spec.containers", container(["securityContext": ["privileged": false]]))]),
            Case(
                rule: "kubetrail_hostnetwork_pod",
                positives: [
                    try f("create_nginx_pod_hostnetwork"),
                    deployment.with("requestObject.spec.template.spec.hostNetwork", true)
                ],
                negatives: [try f("create_nginx_pod_nohostnetwork"), pod]),
            Case(
                rule: "kubetrail_hostpid_pod", positives: [pod.with("requestObject.spec.hostPID", true)],
                negatives: [pod.with("requestObject.spec.hostPID", false), pod.with("verb", "get").with("requestObject.spec.hostPID", true)]),
            Case(
                rule: "kubetrail_hostipc_pod", positives: [pod.with("requestObject.spec.hostIPC", true)],
                negatives: [pod.with("requestObject.spec.hostIPC", false)]),
            Case(
                rule: "kubetrail_sensitive_hostpath_mount",
                positives: [
                    try f("create_nginx_pod_sensitive_mount"),
                    pod.with("requestObject.spec.volumes", [["name": "sock", "hostPath": ["path": "/var/run/containerd/containerd.sock"]]]),
                    pod.with("requestObject.spec.volumes", [["name": "root", "hostPath": ["path": "/"]]])
                ],
                negatives: [
                    pod.with("requestObject.spec.volumes", [["name": "logs", "hostPath": ["path": "/var/log"]]]),
                    pod.with("requestObject.spec.volumes", [["name": "local", "hostPath": ["path": "/usr/local"]]]),
                    pod.with("requestObject.spec.volumes", [["name": "etcd", "hostPath": ["path": "/etcd-data"]]])
                ]),
            Case(
                rule: "kubetrail_dangerous_capabilities",
                positives: [pod.with("requestObject.spec.containers", container(["securityContext": ["capabilities": ["add": ["CHOWN", "SYS_ADMIN"]]]]))],
                negatives: [pod.with("requestObject.spec.containers", container(["securityContext": ["capabilities": ["add": ["NET_BIND_SERVICE"]]]]))]),
            Case(
                rule: "kubetrail_container_runs_as_root",
                positives: [
                    pod.with("requestObject.spec.securityContext", ["runAsUser": 0]),
                    pod.with("requestObject.spec.containers", container(["securityContext": ["runAsUser": 0]]))
                ],
                negatives: [pod.with("requestObject.spec.securityContext", ["runAsUser": 1000]), pod]),
            Case(
                rule: "kubetrail_host_port",
                positives: [pod.with("requestObject.spec.containers", container(["ports": [["containerPort": 80, "hostPort": 8080]]]))],
                negatives: [pod.with("requestObject.spec.containers", container(["ports": [["containerPort": 80]]]))]),
            Case(rule: "kubetrail_cluster_admin_binding", positives: [try f("attach_cluster_admin_role")], negatives: [try f("create_clusterrolebinding")]),
            Case(
                rule: "kubetrail_wildcard_role", positives: [try f("create_cluster_role_wildcard_verbs"), try f("create_cluster_role_wildcard_resources")],
                negatives: [role]),
            Case(rule: "kubetrail_role_grants_exec", positives: [try f("create_cluster_role_pod_exec")], negatives: [role]),
            Case(
                rule: "kubetrail_role_grants_escalation_verbs",
                positives: [
                    role.with(
                        "requestObject.rules", [["apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["get", "escalate"]]])
                ],
                negatives: [role.with("requestObject.rules", [["apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["get"]]])]),
            Case(
                rule: "kubetrail_anonymous_request_allowed", positives: [try f("anonymous_creates_namespace_foo")],
                negatives: [
                    try f("minikube_creates_namespace_foo"), try f("anonymous_creates_namespace_foo").with("requestURI", "/healthz"),
                    try f("anonymous_creates_namespace_foo").annotation("authorization.k8s.io/decision", "forbid")
                ]),
            Case(
                rule: "kubetrail_impersonation_of_privileged",
                positives: [
                    exec.with("impersonatedUser", ["username": "alice", "groups": ["system:masters"]]),
                    exec.with("impersonatedUser", ["username": "system:serviceaccount:kube-system:default"])
                ],
                negatives: [exec.with("impersonatedUser", ["username": "bob", "groups": ["dev"]]), exec]),
            Case(rule: "kubetrail_attach_to_pod", positives: [try f("attach_pod")], negatives: [exec]),
            Case(rule: "kubetrail_port_forward", positives: [exec.with("objectRef.subresource", "portforward")], negatives: [exec]),
            Case(rule: "kubetrail_exec_in_kube_system", positives: [exec.with("objectRef.namespace", "kube-system")], negatives: [exec]),
            Case(
                rule: "kubetrail_ephemeral_container",
                positives: [exec.with("verb", "patch").with("objectRef.subresource", "ephemeralcontainers")],
                negatives: [exec.with("verb", "get").with("objectRef.subresource", "ephemeralcontainers")]),
            Case(
                rule: "kubetrail_node_proxy", positives: [exec.with("verb", "get").with("objectRef", object("nodes", ["name": "n1", "subresource": "proxy"]))],
                negatives: [exec.with("verb", "get").with("objectRef", object("nodes", ["name": "n1"]))]),
            Case(
                rule: "kubetrail_token_request",
                positives: [exec.with("objectRef", object("serviceaccounts", ["namespace": "default", "name": "default", "subresource": "token"]))],
                negatives: [
                    exec.with("objectRef", object("serviceaccounts", ["namespace": "default", "name": "default", "subresource": "token"]))
                        .with("user.username", "system:node:minikube")
                ]),
            Case(
                rule: "kubetrail_kube_system_secret_read",
                positives: [exec.with("verb", "get").with("objectRef", object("secrets", ["namespace": "kube-system", "name": "bootstrap-token-abcdef"]))],
                negatives: [
                    exec.with("verb", "get").with("objectRef", object("secrets", ["namespace": "kube-system", "name": "x"]))
                        .with("user.username", "system:kube-controller-manager"),
                    exec.with("verb", "get").with("objectRef", object("secrets", ["namespace": "default", "name": "x"]))
                ]),
            Case(
                rule: "kubetrail_csr_created",
                positives: [exec.with("objectRef", object("certificatesigningrequests", ["apiGroup": "certificates.k8s.io", "name": "csr-1"]))],
                negatives: [
                    exec.with("objectRef", object("certificatesigningrequests", ["apiGroup": "certificates.k8s.io", "name": "csr-1"]))
                        .with("user", ["username": "system:bootstrap:abcdef", "groups": ["system:bootstrappers", "system:authenticated"]])
                ]),
            Case(
                rule: "kubetrail_csr_approved",
                positives: [exec.with("verb", "update").with("objectRef", object("certificatesigningrequests", ["name": "csr-1", "subresource": "approval"]))],
                negatives: [
                    exec.with("verb", "update").with("objectRef", object("certificatesigningrequests", ["name": "csr-1", "subresource": "approval"]))
                        .with("user.username", "system:kube-controller-manager")
                ]),
            Case(
                rule: "kubetrail_admission_webhook_deleted",
                positives: [
                    exec.with("verb", "delete").with("objectRef", object("validatingwebhookconfigurations", ["apiGroup": "admissionregistration.k8s.io"]))
                ],
                negatives: [
                    exec.with("verb", "create").with("objectRef", object("validatingwebhookconfigurations", ["apiGroup": "admissionregistration.k8s.io"]))
                ]),
            Case(
                rule: "kubetrail_webhook_external_url",
                positives: [
                    exec.with("objectRef", object("mutatingwebhookconfigurations"))
                        .with("requestObject", ["webhooks": [["name": "w", "clientConfig": ["url": "https://collector.example/admit"]]]])
                ],
                negatives: [
                    exec.with("objectRef", object("mutatingwebhookconfigurations"))
                        .with("requestObject", ["webhooks": [["name": "w", "clientConfig": ["service": ["name": "s", "namespace": "policy"]]]]])
                ]),
            Case(
                rule: "kubetrail_events_deleted_in_bulk",
                positives: [exec.with("verb", "deletecollection").with("objectRef", object("events", ["namespace": "default"]))],
                negatives: [exec.with("verb", "delete").with("objectRef", object("events", ["namespace": "default"]))]),
            Case(
                rule: "kubetrail_secrets_listed_cluster_wide",
                positives: [exec.with("verb", "list").with("objectRef", object("secrets"))],
                negatives: [
                    exec.with("verb", "list").with("objectRef", object("secrets", ["namespace": "default"])),
                    exec.with("verb", "list").with("objectRef", object("secrets")).annotation("authorization.k8s.io/decision", "forbid")
                ]),
            Case(
                rule: "kubetrail_nodeport_service", positives: [try f("create_nginx_service_nodeport")], negatives: [try f("create_nginx_service_nonodeport")]),
            Case(
                rule: "kubetrail_service_external_ips", positives: [try f("create_service").with("requestObject.spec.externalIPs", ["203.0.113.9"])],
                negatives: [try f("create_service")]),
            Case(
                rule: "kubetrail_workload_in_kube_system", positives: [deployment.with("objectRef.namespace", "kube-system")],
                negatives: [try f("create_pod_kube_system_namespace"), deployment]),
            Case(rule: "kubetrail_daemonset_created", positives: [deployment.with("objectRef.resource", "daemonsets")], negatives: [deployment]),
            Case(rule: "kubetrail_namespace_deleted", positives: [try f("delete_namespace_foo")], negatives: [try f("minikube_creates_namespace_foo")]),
            Case(
                rule: "kubetrail_offensive_tool_user_agent", positives: [exec.with("userAgent", "peirates/v1.1.13")],
                negatives: [exec.with("userAgent", "kubectl/v1.32.0 (linux/amd64) kubernetes/abc")]),
            Case(rule: "kubetrail_system_masters_request", positives: [exec], negatives: [exec.with("user.groups", ["system:authenticated"])]),
            Case(
                rule: "kubetrail_forbidden_secret_access",
                positives: [exec.with("verb", "get").with("objectRef", object("secrets", ["namespace": "default"])).with("responseStatus.code", 403)],
                negatives: [exec.with("verb", "get").with("objectRef", object("secrets", ["namespace": "default"])).with("responseStatus.code", 200)])
        ]
    }

    @Test func thePackHasFortyRulesOrMoreEachDescribedAndEachWithACase() throws {
        let pack = try RuleSet.load(directories: []).detections
        #expect(pack.count >= 40)
        #expect(Set(pack.map(\.id)).count == pack.count, "ids are unique")
        let cased = Set(try Self.cases().map(\.rule))
        for d in pack {
            let name = d.name ?? ((d.file as NSString).lastPathComponent as NSString).deletingPathExtension
            #expect(cased.contains(name), "\(name) has no test case")
            #expect(!d.title.isEmpty && !d.description.isEmpty && !d.author.isEmpty, "\(name)")
            #expect(!d.mitre.isEmpty, "\(name) names no MITRE ATT&CK tactic or technique")
            if d.file.contains("/kubetrail/") {
                #expect(d.mitre.contains { $0.hasPrefix("T1") }, "\(name) names no technique")
                #expect(!d.falsePositives.isEmpty, "\(name) names no false positives")
            }
        }
    }

    @Test func theBinaryCarriesTheRuleFilesAsTheyAre() throws {
        let root = Fixtures.repositoryRoot.appendingPathComponent("rules")
        var files: [String: String] = [:]
        let walker = FileManager.default.enumerator(atPath: root.path)
        while let relative = walker?.nextObject() as? String {
            guard relative.hasSuffix(".yml") else { continue }
            files["rules/" + relative] = try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
        }
        let embedded = Dictionary(uniqueKeysWithValues: BuiltInRules.files.map { ($0.name, $0.text) })
        #expect(embedded.keys.sorted() == files.keys.sorted(), "run scripts/embed-rules")
        for (name, text) in files { #expect(embedded[name] == text, "\(name) differs from the binary's copy: run scripts/embed-rules") }
        // SigmaHQ's files are theirs, unaltered (their licence asks it of a copy).
        for file in Fixtures.files(under: "sigma", withExtension: "yml") {
            let name = "rules/sigmahq/" + (file as NSString).lastPathComponent
            #expect(embedded[name] == (try Fixtures.text(file)), "\(name)")
        }
    }

    @Test func theDocsListEveryRuleWithItsSeverity() throws {
        let doc = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("docs/detections.md"), encoding: .utf8)
        let pack = try RuleSet.load(directories: []).detections
        #expect(doc.contains("\(pack.count) rules"))
        for d in pack {
            let name = d.name ?? ((d.file as NSString).lastPathComponent as NSString).deletingPathExtension
            #expect(doc.contains("| `\(name)` | \(d.title) | \(d.severity.rawValue) | "), "docs/detections.md lacks \(name)")
        }
    }

    @Test(arguments: TestBackend.allCases) func everyRuleFindsItsPositivesAndNotItsNegatives(_ backend: TestBackend) throws {
        let pack = try RuleSet.load(directories: []).detections
        let cases = try Self.cases()
        let lab = try AuditLab(backend)
        try lab.add(cases.flatMap { $0.positives + $0.negatives })
        var found: [String: Set<String>] = [:]  // audit id → rule ids
        for finding in try lab.findings(pack) { found[finding.auditID, default: []].insert(finding.rule) }
        for c in cases {
            guard let rule = pack.first(where: { $0.isNamed(c.rule) }) else { Issue.record("no rule \(c.rule)"); continue }
            for (i, e) in c.positives.enumerated() { #expect(found[e.auditID]?.contains(rule.id) == true, "\(c.rule) misses positive \(i)") }
            for (i, e) in c.negatives.enumerated() { #expect(found[e.auditID]?.contains(rule.id) != true, "\(c.rule) finds negative \(i)") }
        }
    }
}
