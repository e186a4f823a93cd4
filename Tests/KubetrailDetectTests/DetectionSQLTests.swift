import Foundation
import Testing
import TestSupport
import KubetrailTables
@testable import KubetrailDetect

/// Rules compiled to SQL and run on each store over real-shaped audit events (Falco's trace
/// files): every value test and combination matches the rows it should and no others, on both
/// engines.
@Suite struct DetectionSQLTests {
    static let exec = "audit/falco-trace-files/exec_pod.json"
    static let privilegedPod = "audit/falco-trace-files/create_nginx_pod_privileged_2nd_container.json"

    func detection(_ body: String) throws -> Detection {
        try Detection(SigmaRuleTests.rule(SigmaRuleTests.yaml(detection: body)))
    }

    /// Which of `events` the rule finds, by their index.
    func matches(_ body: String, _ events: [AuditEvent], on backend: TestBackend) throws -> [Int] {
        let lab = try AuditLab(backend)
        try lab.add(events)
        let found = Set(try lab.findings([try detection(body)]).map(\.auditID))
        return events.indices.filter { found.contains(events[$0].auditID) }
    }

    @Test(arguments: TestBackend.allCases) func textTestsIgnoreCaseAndHonourWildcards(_ backend: TestBackend) throws {
        let e = try AuditEvent(fixture: Self.exec)
        let events = [
            e,  // verb create, user minikube-user, groups system:masters…
            e.with("verb", "CREATE"),  // case differs
            e.with("user.username", "mini%user"),  // % is a literal in the value
            e.with("user.username", "minikube_user"),  // _ is a literal in the value
            e.with("user.username", "Ünïcode-User"),
            e.without("user.username")
        ]
        #expect(try matches("    s:\n        verb: create\n    condition: s", events, on: backend) == [0, 1, 2, 3, 4, 5])
        #expect(try matches("    s:\n        user.username: MINIKUBE-USER\n    condition: s", events, on: backend) == [0, 1])
        #expect(try matches("    s:\n        user.username: 'mini%user'\n    condition: s", events, on: backend) == [2])
        #expect(try matches("    s:\n        user.username: 'minikube_user'\n    condition: s", events, on: backend) == [3])
        #expect(try matches("    s:\n        user.username: 'ünïcode-user'\n    condition: s", events, on: backend) == [4])
        #expect(try matches("    s:\n        user.username|startswith: 'MINI'\n    condition: s", events, on: backend) == [0, 1, 2, 3])
        #expect(try matches("    s:\n        user.username|endswith: '_user'\n    condition: s", events, on: backend) == [3])
        #expect(try matches("    s:\n        user.username|contains: '%'\n    condition: s", events, on: backend) == [2])
        // A `%` carrying a combining mark is one Character and still a literal `%` (escaped per scalar).
        let marked = try matches(
            "    s:\n        user.username|contains: \"%\u{301}\"\n    condition: s", [e.with("user.username", "a%\u{301}b"), e], on: backend)
        #expect(marked == [0])
        #expect(try matches("    s:\n        user.username: 'mini?ube*'\n    condition: s", events, on: backend) == [0, 1, 3])
        #expect(try matches("    s:\n        user.username: 'mini\\*'\n    condition: s", events, on: backend) == [])
        #expect(try matches("    s:\n        requestURI|contains: 'command=bash'\n    condition: s", events, on: backend) == [0, 1, 2, 3, 4, 5])
        // Absent is not equal: `not` matches the row without the field.
        #expect(try matches("    s:\n        user.username: minikube-user\n    condition: not s", events, on: backend) == [2, 3, 4, 5])
        #expect(try matches("    s:\n        user.username: null\n    condition: s", events, on: backend) == [5])
        #expect(try matches("    s:\n        user.username|exists: false\n    condition: s", events, on: backend) == [5])
    }

    @Test(arguments: TestBackend.allCases) func regexCIDRAndNumbers(_ backend: TestBackend) throws {
        let e = try AuditEvent(fixture: Self.exec)
        let events = [
            e,  // 192.168.99.1, code 101
            e.with("sourceIPs", ["10.1.2.3", "192.168.99.1"]).with("responseStatus.code", 403),
            e.with("sourceIPs", ["2001:db8::7"]),
            e.with("sourceIPs", ["not-an-address"]),
            e.with("sourceIPs", ["::ffff:10.1.2.3"])
        ]
        #expect(try matches("    s:\n        sourceIPs|cidr: 10.0.0.0/8\n    condition: s", events, on: backend) == [1])
        #expect(try matches("    s:\n        sourceIPs|cidr: 192.168.99.1/32\n    condition: s", events, on: backend) == [0, 1])
        #expect(try matches("    s:\n        sourceIPs|cidr: '2001:db8::/32'\n    condition: s", events, on: backend) == [2])
        #expect(try matches("    s:\n        sourceIPs: 2001:DB8::7\n    condition: s", events, on: backend) == [2])
        #expect(try matches("    s:\n        responseStatus.code: 403\n    condition: s", events, on: backend) == [1])
        #expect(try matches("    s:\n        responseStatus.code: '101'\n    condition: s", events, on: backend) == [0, 2, 3, 4])
        // A pattern on the integer code compares its text, on both engines.
        #expect(try matches("    s:\n        responseStatus.code|startswith: '4'\n    condition: s", events, on: backend) == [1])
        #expect(try matches("    s:\n        user.username|re: '^mini.*r$'\n    condition: s", events, on: backend) == [0, 1, 2, 3, 4])
        // Sigma's |re is case-sensitive.
        #expect(try matches("    s:\n        user.username|re: '^MINI'\n    condition: s", events, on: backend) == [])
        #expect(try matches("    s:\n        requestURI|re: 'container=nginx[0-9]'\n    condition: s", events, on: backend) == [0, 1, 2, 3, 4])
    }

    @Test(arguments: TestBackend.allCases) func listsJSONPathsAndCombinations(_ backend: TestBackend) throws {
        let pod = try AuditEvent(fixture: Self.privilegedPod)
        let e = try AuditEvent(fixture: Self.exec)
        let events = [
            pod,  // 2nd container privileged
            pod.with("requestObject.spec.containers", [["name": "a", "image": "nginx", "securityContext": ["privileged": false]]]),
            pod.with("requestObject.spec.containers", [["name": "a", "securityContext": ["privileged": "true"]]]),  // a string, not a bool
            e,  // groups system:masters, system:authenticated (the pods: service accounts')
            e.with("user.groups", ["system:authenticated"]),
            e.annotation("authorization.k8s.io/decision", "forbid"),
            e.without("user.groups")
        ]
        let privileged = "    s:\n        requestObject.spec.containers.securityContext.privileged: true\n    condition: s"
        #expect(try matches(privileged, events, on: backend) == [0])
        #expect(try matches("    s:\n        requestObject.spec.containers.image|startswith: NGINX\n    condition: s", events, on: backend) == [0, 1])
        #expect(try matches("    s:\n        requestObject.spec.containers.securityContext|exists: true\n    condition: s", events, on: backend) == [0, 1, 2])
        #expect(try matches("    s:\n        requestObject.spec.hostNetwork|exists: true\n    condition: s", events, on: backend) == [])
        #expect(try matches("    s:\n        user.groups: system:masters\n    condition: s", events, on: backend) == [3, 5])
        #expect(try matches("    s:\n        user.groups: system:masters\n    condition: not s", events, on: backend) == [0, 1, 2, 4, 6])
        #expect(try matches("    s:\n        user.groups|all: [system:masters, system:authenticated]\n    condition: s", events, on: backend) == [3, 5])
        #expect(try matches("    s:\n        user.groups|all: [system:masters, nobody]\n    condition: s", events, on: backend) == [])
        #expect(try matches("    s:\n        annotations.authorization.k8s.io/decision: FORBID\n    condition: s", events, on: backend) == [5])
        #expect(
            try matches(
                """
                    a:
                        verb: create
                    b:
                        objectRef.subresource: exec
                    c:
                        user.groups: system:masters
                    condition: a and (b or not c)
                """.replacingOccurrences(of: "            ", with: ""), events, on: backend) == [0, 1, 2, 3, 4, 5, 6])
        #expect(
            try matches(
                """
                    a:
                        objectRef.subresource: exec
                    b:
                        user.groups: system:masters
                    condition: a and not b
                """.replacingOccurrences(of: "            ", with: ""), events, on: backend) == [4, 6])
        // `not` of a test on a missing list or JSON value is a match on both engines (never NULL).
        #expect(try matches("    s:\n        requestObject.spec.hostNetwork: true\n    condition: not s", events, on: backend) == [0, 1, 2, 3, 4, 5, 6])
        #expect(
            try matches(
                """
                    sel_one:
                        objectRef.resource: pods
                    sel_two:
                        objectRef.subresource: exec
                    condition: all of sel_*
                """.replacingOccurrences(of: "            ", with: ""), events, on: backend) == [3, 4, 5, 6])
    }

    /// A key written with a `\u` escape is the same key: found by the SQL and by the evaluator,
    /// which otherwise skips documents whose bytes lack the path's last key.
    @Test(arguments: TestBackend.allCases) func escapedJSONKeysAreTheSameKeys(_ backend: TestBackend) throws {
        let pod = try AuditEvent(fixture: Self.privilegedPod)
        let events = [
            pod.with("requestObject.spec.hostIPC", true).escapingKey("hostIPC"),
            pod.with("requestObject.spec.hostIPC", true),
            pod.with("requestObject.spec.hostIPC", false).escapingKey("hostIPC"),
            pod
        ]
        #expect(events[0].json.contains("\\u0068ostIPC"))
        #expect(try matches("    s:\n        requestObject.spec.hostIPC: true\n    condition: s", events, on: backend) == [0, 1])
        #expect(try matches("    s:\n        requestObject.spec.hostIPC|exists: true\n    condition: s", events, on: backend) == [0, 1, 2])
    }

    @Test(arguments: TestBackend.allCases) func timeRangeAndOrderOfFindings(_ backend: TestBackend) throws {
        let e = try AuditEvent(fixture: Self.exec)
        let events = [
            e.with("stageTimestamp", "2026-12-01T10:00:00.000000Z"), e.with("stageTimestamp", "2026-12-01T09:00:00.000000Z"),
            e.with("stageTimestamp", "2026-12-02T10:00:00.000000Z")
        ]
        let lab = try AuditLab(backend)
        try lab.add(events)
        let d = try detection("    s:\n        verb: create\n    condition: s")
        #expect(try lab.findings([d]).map(\.auditID) == [events[1].auditID, events[0].auditID, events[2].auditID])
        let from = Timestamp(rfc3339: "2026-12-01T09:30:00Z")!, to = Timestamp(rfc3339: "2026-12-02T10:00:00Z")!
        #expect(try lab.findings([d], from: from, to: to).map(\.auditID) == [events[0].auditID])
    }

    @Test func regularExpressionsTheEnginesReadDifferentlyAreRefused() {
        for (pattern, construct) in [(#"\bkubectl\b"#, "\\b"), (#"\p{L}+"#, "\\p"), ("(?<user>x)", "(?<u"), ("(?i)admin", "(?i)")] {
            let e = SigmaRuleTests.error("    s:\n        userAgent|re: '\(pattern)'\n    condition: s")
            #expect(e?.description.contains("uses \(construct)") == true, "\(pattern): \(e.map { "\($0)" } ?? "no error")")
        }
        #expect(SigmaRuleTests.error("    s:\n        userAgent|re: '^kubectl/v1\\.(2[0-9]|3[0-2])(?=[ ])'\n    condition: s") == nil)
    }
}
