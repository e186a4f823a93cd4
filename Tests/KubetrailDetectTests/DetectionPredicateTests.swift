import Foundation
import Testing
import TestSupport
@testable import KubetrailDetect

/// Rules turned into predicates over one audit row: fields resolved, values and modifiers
/// turned into tests, lists as OR (AND with `|all`), and unknown fields refused by name.
@Suite struct DetectionPredicateTests {
    func predicate(_ detection: String) throws -> DetectionPredicate {
        try SigmaRuleTests.rule(SigmaRuleTests.yaml(detection: detection)).predicate()
    }

    @Test func theExecRuleIsThreeColumnTests() throws {
        let rule = try SigmaRule.load(path: Fixtures.url("sigma/kubernetes_audit_exec_into_container.yml").path)
        #expect(
            try rule.predicate()
                == .and([
                    .match(.text(column: "verb"), .equals("create")),
                    .match(.text(column: "resource"), .equals("pods")),
                    .match(.text(column: "subresource"), .equals("exec"))
                ]))
    }

    @Test func modifiersBecomeTests() throws {
        let p = try predicate(
            """
                sel:
                    requestURI|contains: '/exec'
                    userAgent|startswith: 'kubectl/'
                    objectRef.name|endswith: '-admin'
                    user.username|re: '^system:serviceaccount:'
                    sourceIPs|cidr: '10.0.0.0/8'
                    impersonatedUser.username|exists: true
                    requestObject.spec.hostNetwork: true
                    responseStatus.code: 403
                    objectRef.namespace: null
                condition: sel
            """)
        #expect(
            p
                == .and([
                    .match(.text(column: "request_uri"), .wildcard([.anyRun, .literal("/exec"), .anyRun])),
                    .match(.text(column: "user_agent"), .wildcard([.literal("kubectl/"), .anyRun])),
                    .match(.text(column: "name"), .wildcard([.anyRun, .literal("-admin")])),
                    .match(.text(column: "user_name"), .regex("^system:serviceaccount:")),
                    .match(.list(column: "source_ips"), .cidr("10.0.0.0/8")),
                    .match(.text(column: "impersonated_user_name"), .exists(true)),
                    .match(.json(column: "request_object", path: ["spec", "hostNetwork"]), .bool(true)),
                    .match(.integer(column: "response_code"), .number(403)),
                    .match(.text(column: "namespace"), .isNull)
                ]))
    }

    @Test func listsAreAlternativesUnlessAll() throws {
        #expect(
            try predicate("    sel:\n        verb:\n            - create\n            - patch\n    condition: sel")
                == .or([.match(.text(column: "verb"), .equals("create")), .match(.text(column: "verb"), .equals("patch"))]))
        #expect(
            try predicate("    sel:\n        requestURI|contains|all:\n            - a\n            - b\n    condition: sel")
                == .and([
                    .match(.text(column: "request_uri"), .wildcard([.anyRun, .literal("a"), .anyRun])),
                    .match(.text(column: "request_uri"), .wildcard([.anyRun, .literal("b"), .anyRun]))
                ]))
        #expect(
            try predicate("    sel:\n        verb: create\n    filter:\n        user.username: admin\n    condition: sel and not filter")
                == .and([.match(.text(column: "verb"), .equals("create")), .not(.match(.text(column: "user_name"), .equals("admin")))]))
    }

    /// Every SigmaHQ Kubernetes rule becomes a predicate, the pipeline's short names and the
    /// enumeration rule's `ALLOW` included.
    @Test func everySigmaHQRuleBecomesAPredicate() throws {
        var predicates: [String: DetectionPredicate] = [:]
        for file in try SigmaRuleTests.fixtureRules() {
            predicates[(file as NSString).lastPathComponent] = try SigmaRule.load(path: file).predicate()
        }
        #expect(predicates.count == 16)
        #expect(
            predicates["kubernetes_audit_hostpath_mount.yml"]
                == .and([
                    .match(.text(column: "verb"), .equals("create")), .match(.text(column: "resource"), .equals("pods")),
                    .match(.json(column: "request_object", path: ["spec", "volumes", "hostPath"]), .wildcard([.anyRun]))
                ]))
        guard case .and(let privileged) = predicates["kubernetes_audit_privileged_pod_creation.yml"], case .or(let containers) = privileged.last else {
            Issue.record("\(String(describing: predicates["kubernetes_audit_privileged_pod_creation.yml"]))"); return
        }
        #expect(containers.count == 3)
        guard case .and(let enumeration) = predicates["kubernetes_audit_potential_enumeration_activity.yml"] else { Issue.record("not an and"); return }
        #expect(enumeration.first == .match(.text(column: "authorization_decision"), .equals("allow")))
        #expect(
            predicates["kubernetes_audit_unauthorized_unauthenticated_actions.yml"]
                == .or([.match(.integer(column: "response_code"), .number(401)), .match(.integer(column: "response_code"), .number(403))]))
        #expect(try predicate("    sel:\n        responseStatus.code: '404'\n    condition: sel") == .match(.integer(column: "response_code"), .number(404)))
        do { _ = try predicate("    sel:\n        responseStatus.code: 'teapot'\n    condition: sel"); Issue.record("compiled") } catch let e as SigmaError {
            #expect(e.line == 8 && e.message.contains("never match"), "\(e)")
        }
    }

    @Test func wildcardsAndTheirEscapes() {
        #expect(WildcardPart.parse("a*b?c") == [.literal("a"), .anyRun, .literal("b"), .anyOne, .literal("c")])
        #expect(WildcardPart.parse(#"a\*b\?c\\d\e"#) == [.literal(#"a*b?c\d\e"#)])
        #expect(WildcardPart.parse("**x") == [.anyRun, .literal("x")])
        #expect(WildcardPart.parse("") == [])
    }

    @Test func unknownFieldsAndKeywordsAreRefusedByName() {
        do { _ = try predicate("    sel:\n        Image: x\n    condition: sel"); Issue.record("compiled") } catch let e as SigmaError {
            #expect(e.line == 8 && e.construct == "Image" && e.message.contains("not a field of a Kubernetes audit event"), "\(e)")
        } catch { Issue.record("\(error)") }
        do { _ = try predicate("    words:\n        - evil\n    condition: words"); Issue.record("compiled") } catch let e as SigmaError {
            #expect(e.line == 7 && e.construct == "keywords", "\(e)")
        } catch { Issue.record("\(error)") }
    }
}
