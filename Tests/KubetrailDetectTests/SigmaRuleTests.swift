import Foundation
import Testing
import TestSupport
@testable import KubetrailDetect

/// Sigma rules read as SigmaHQ publishes them: every Kubernetes audit rule of the fixtures loads
/// unmodified, each condition form parses to what it means, and each construct kubetrail does
/// not support is an error naming the file, the line and the construct.
@Suite struct SigmaRuleTests {
    static func fixtureRules() throws -> [String] {
        let dir = Fixtures.url("sigma").path
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yml") }.sorted().map { dir + "/" + $0 }
    }

    static func rule(_ yaml: String) throws -> SigmaRule { try SigmaRule.parse(yaml, file: "test.yml") }

    static func yaml(detection: String, logsource: String = "    product: kubernetes\n    service: audit") -> String {
        "title: t\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n\(logsource)\ndetection:\n\(detection)\nlevel: high\n"
    }

    static func error(_ detection: String) -> SigmaError? {
        do { _ = try rule(yaml(detection: detection)); return nil } catch let e as SigmaError { return e } catch { return nil }
    }

    @Test func everySigmaHQKubernetesRuleLoadsUnmodified() throws {
        let files = try Self.fixtureRules()
        #expect(files.count == 16)
        for file in files {
            let rule = try SigmaRule.load(path: file)
            #expect(rule.id?.count == 36 && !rule.title.isEmpty && rule.level != nil, "\(file)")
            #expect(!rule.searches.isEmpty, "\(file)")
        }
    }

    @Test func theExecRuleReadsAsWritten() throws {
        let rule = try SigmaRule.load(path: Fixtures.url("sigma/kubernetes_audit_exec_into_container.yml").path)
        #expect(rule.id == "a1b0ca4e-7835-413e-8471-3ff2b8a66be6" && rule.level == "medium")
        #expect(rule.mitreTechniques == ["T1609"])
        #expect(rule.condition == .search("selection"))
        #expect(
            rule.searches["selection"]
                == .allOf([
                    SigmaFieldMatch(field: "verb", modifiers: [], values: [.string("create")], line: 19),
                    SigmaFieldMatch(field: "objectRef.resource", modifiers: [], values: [.string("pods")], line: 20),
                    SigmaFieldMatch(field: "objectRef.subresource", modifiers: [], values: [.string("exec")], line: 21)
                ]))
    }

    @Test func valuesKeepTheirYAMLTypesAndQuotedOnesStayText() throws {
        let r = try Self.rule(
            Self.yaml(
                detection: """
                        sel:
                            responseStatus.code:
                                - 403
                                - '401'
                            requestObject.spec.hostNetwork: true
                            impersonatedUser.username: null
                            userAgent: 'kubectl/*'
                        condition: sel
                    """))
        guard case .allOf(let m) = r.searches["sel"] else { Issue.record("not a map"); return }
        #expect(m.map(\.values) == [[.number(403), .string("401")], [.bool(true)], [.null], [.string("kubectl/*")]])
    }

    @Test func everyModifierParses() throws {
        let r = try Self.rule(
            Self.yaml(
                detection: """
                        sel:
                            requestURI|contains: '/exec'
                            userAgent|startswith: 'kubectl'
                            objectRef.name|endswith: '-admin'
                            requestObject.spec.containers.command|contains|all:
                                - 'curl'
                                - 'sh'
                            user.username|re: '^system:serviceaccount:[^:]+:default$'
                            sourceIPs|cidr: '10.0.0.0/8'
                            impersonatedUser.username|exists: true
                        condition: sel
                    """))
        guard case .allOf(let m) = r.searches["sel"] else { Issue.record("not a map"); return }
        #expect(m.map(\.modifiers) == [[.contains], [.startswith], [.endswith], [.contains, .all], [.re], [.cidr], [.exists]])
    }

    @Test func conditionsCombineAsWritten() throws {
        let searches = ["selection", "filter_a", "filter_b", "_private", "other"]
        func parse(_ text: String) throws -> SigmaCondition { try SigmaCondition.parse(text, searches: searches, file: "f", line: 1) }
        #expect(try parse("selection and not filter_a") == .and([.search("selection"), .not(.search("filter_a"))]))
        #expect(try parse("selection or other and filter_a") == .or([.search("selection"), .and([.search("other"), .search("filter_a")])]))
        #expect(try parse("(selection or other) and filter_a") == .and([.or([.search("selection"), .search("other")]), .search("filter_a")]))
        #expect(try parse("selection and not 1 of filter_*") == .and([.search("selection"), .not(.or([.search("filter_a"), .search("filter_b")]))]))
        #expect(try parse("all of filter_*") == .and([.search("filter_a"), .search("filter_b")]))
        #expect(try parse("1 of them") == .or([.search("selection"), .search("filter_a"), .search("filter_b"), .search("other")]))
        #expect(try parse("all of them") == .and([.search("selection"), .search("filter_a"), .search("filter_b"), .search("other")]))
        #expect(try parse("any of sel*") == .search("selection"))
        #expect(try parse("NOT selection AND other") == .and([.not(.search("selection")), .search("other")]))
        #expect(try parse("not not selection") == .not(.not(.search("selection"))))
    }

    @Test func aListOfFieldMapsIsAnyOfThem() throws {
        let r = try Self.rule(
            Self.yaml(
                detection: """
                        sel:
                            - verb: create
                              objectRef.resource: pods
                            - verb: delete
                        keywords:
                            - 'hostPath'
                            - 'privileged'
                        condition: sel or keywords
                    """))
        #expect(
            r.searches["sel"]
                == .anyOf([
                    .allOf([
                        SigmaFieldMatch(field: "verb", modifiers: [], values: [.string("create")], line: 8),
                        SigmaFieldMatch(field: "objectRef.resource", modifiers: [], values: [.string("pods")], line: 9)
                    ]),
                    .allOf([SigmaFieldMatch(field: "verb", modifiers: [], values: [.string("delete")], line: 10)])
                ]))
        #expect(r.searches["keywords"] == .keywords([.string("hostPath"), .string("privileged")], line: 11))
    }

    /// Each unsupported or meaningless construct: file, line and construct named.
    @Test func unsupportedConstructsAreErrorsNamingFileLineAndConstruct() throws {
        let cases: [(detection: String, line: Int, construct: String, says: String)] = [
            ("    sel:\n        requestURI|base64offset|contains: 'x'\n    condition: sel", 8, "base64offset", "not a modifier kubetrail supports"),
            ("    sel:\n        verb: get\n    condition: sel | count() by user.username > 5", 9, "| count() by user.username > 5", "aggregations"),
            ("    sel:\n        verb: get\n    timeframe: 5m\n    condition: sel", 9, "timeframe", "not supported"),
            ("    sel:\n        verb: get\n    condition:\n        - sel\n        - sel", 10, "condition", "a list of conditions"),
            ("    sel:\n        verb: get\n    condition: sel and nothing", 9, "nothing", "no search of this rule has this name"),
            ("    sel:\n        verb: get\n    condition: 1 of filter_*", 9, "filter_*", "no search of this rule is named like it"),
            ("    sel:\n        verb: get\n    condition: (sel", 9, "sel", "not closed"),
            ("    sel:\n        verb: get\n    condition: sel or", 9, "condition", "ends where a search was expected"),
            ("    sel:\n        verb: get", 6, "condition", "is missing"),
            ("    sel:\n        verb|contains|startswith: x\n    condition: sel", 8, "verb|contains|startswith", "combines"),
            ("    sel:\n        verb|exists: yes please\n    condition: sel", 8, "verb|exists", "true or false"),
            ("    sel:\n        verb: []\n    condition: sel", 8, "verb", "empty list"),
            ("    sel:\n        verb|contains: null\n    condition: sel", 8, "verb|contains", "null with a modifier")
        ]
        for c in cases {
            let e = Self.error(c.detection)
            #expect(
                e?.file == "test.yml" && e?.line == c.line && e?.construct == c.construct && e?.message.contains(c.says) == true,
                "\(c.detection): \(e.map { "\($0)" } ?? "no error")")
        }
        let windows = Self.yaml(detection: "    sel:\n        Image: x\n    condition: sel", logsource: "    product: windows\n    category: process_creation")
        #expect(throws: SigmaError.self) { try Self.rule(windows) }
        do { _ = try Self.rule(windows) } catch let e as SigmaError {
            #expect(
                e.description
                    == "test.yml:3: logsource: is not Kubernetes audit logs (product: kubernetes, service: audit); kubetrail runs rules over kubernetes_audit_logs only"
            )
        }
        let correlation = "title: t\ncorrelation:\n    type: event_count\nlogsource:\n    product: kubernetes\n    service: audit\n"
        do { _ = try Self.rule(correlation); Issue.record("a correlation loaded") } catch let e as SigmaError {
            #expect(e.line == 2 && e.construct == "correlation", "\(e)")
        }
    }
}
