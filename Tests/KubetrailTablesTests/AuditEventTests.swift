import Foundation
import Testing
import TestSupport
@testable import KubetrailTables

func decodeAudit(_ text: String, context: IngestContext = IngestContext(sourceType: .auditFile)) -> [RowOutcome<AuditLogRow>] {
    var out: [RowOutcome<AuditLogRow>] = []
    AuditDecoder.decode(Array(text.utf8), context: context) { out.append($0) }
    return out
}

func rows(_ outcomes: [RowOutcome<AuditLogRow>]) -> [AuditLogRow] {
    outcomes.compactMap { if case .row(let r) = $0 { return r } else { return nil } }
}

@Suite struct AuditEventTests {
    /// The review's probe: a policy logging tokenreviews at Request level put every validated
    /// bearer token in `request_object`. Bodies of requests that carry credentials are withheld
    /// whatever the policy; other bodies are kept.
    @Test func credentialBodiesAreNeverStored() throws {
        func event(_ resource: String, _ subresource: String? = nil, group: String = "", body: String) -> String {
            let sub = subresource.map { ",\"subresource\":\"\($0)\"" } ?? ""
            return
                #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"\#(UUID().uuidString)","stage":"ResponseComplete","requestURI":"/x","verb":"create","user":{"username":"system:kube-controller-manager"},"objectRef":{"resource":"\#(resource)"\#(sub),"apiGroup":"\#(group)","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":\#(body),"responseObject":\#(body),"requestReceivedTimestamp":"2026-12-01T10:00:00.000000Z","stageTimestamp":"2026-12-01T10:00:00.100000Z"}"#
        }
        let token = #"{"kind":"TokenReview","spec":{"token":"eyJhbGciOiJSUzI1NiJ9.secret-bearer-token"}}"#
        for e in [
            event("tokenreviews", group: "authentication.k8s.io", body: token), event("serviceaccounts", "token", body: token),
            event("secrets", body: #"{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}"#)
        ] {
            let row = try #require(rows(decodeAudit(e)).first)
            #expect(row.requestObject == nil && row.responseObject == nil, "\(row.resource ?? "")")
        }
        let pod = try #require(rows(decodeAudit(event("pods", body: #"{"kind":"Pod"}"#))).first)
        #expect(pod.requestObject == #"{"kind":"Pod"}"# && pod.responseObject == #"{"kind":"Pod"}"#)
    }

    /// Every event of every fixture, compared field by field with Foundation's reading.
    @Test(arguments: AuditFixtureOracle.auditFiles)
    func everyFixtureEventMatchesTheOracle(file: String) throws {
        let expected = try AuditFixtureOracle.events(in: file)
        let text = try Fixtures.text(file)
        let isPretty =
            text.split(separator: "\n").count > 1 && !(text.hasPrefix("{\"") || text.hasPrefix("{\"kind"))
            && (try? JSONSerialization.jsonObject(with: Fixtures.data(file).drop(while: { $0 != 0x7B }))) != nil
        var outcomes: [RowOutcome<AuditLogRow>] = []
        if isPretty {
            outcomes = decodeAudit(text)
        } else {
            for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                outcomes += decodeAudit(String(line))
            }
        }
        let got = rows(outcomes)
        if file.hasSuffix("fal_01_003.json") {
            #expect(got.isEmpty)
            #expect(outcomes.count == 1)
            return
        }
        #expect(got.count == expected.count, "\(file)")
        #expect(got.count == outcomes.count, "\(file): rejected \(outcomes.count - got.count)")
        for (row, e) in zip(got, expected) {
            let user = e["user"] as? [String: Any] ?? [:]
            let imp = e["impersonatedUser"] as? [String: Any]
            let ref = e["objectRef"] as? [String: Any] ?? [:]
            let status = e["responseStatus"] as? [String: Any] ?? [:]
            let ann = e["annotations"] as? [String: String] ?? [:]
            let meta = e["metadata"] as? [String: Any] ?? [:]
            #expect(row.auditID == e["auditID"] as? String)
            #expect(row.stage == e["stage"] as? String)
            #expect(row.level == e["level"] as? String)
            #expect(row.verb == e["verb"] as? String)
            #expect(row.requestURI == e["requestURI"] as? String)
            #expect(row.userAgent == e["userAgent"] as? String)
            #expect(row.userName == user["username"] as? String)
            #expect(row.userGroups == user["groups"] as? [String])
            #expect(row.impersonatedUserName == imp?["username"] as? String)
            #expect(row.sourceIPs == e["sourceIPs"] as? [String])
            #expect(row.resource == ref["resource"] as? String)
            #expect(row.subresource == ref["subresource"] as? String)
            #expect(row.namespace == ref["namespace"] as? String)
            #expect(row.name == ref["name"] as? String)
            #expect(row.apiGroup == ref["apiGroup"] as? String)
            #expect(row.objectUID == ref["uid"] as? String)
            #expect(row.responseCode == (status["code"] as? NSNumber)?.int64Value)
            #expect(row.responseStatus == status["status"] as? String)
            #expect(row.responseReason == status["reason"] as? String)
            #expect(row.responseMessage == status["message"] as? String)
            #expect(row.authorizationDecision == ann["authorization.k8s.io/decision"])
            #expect(row.authorizationReason == ann["authorization.k8s.io/reason"])
            let stage = AuditFixtureOracle.micros(e["stageTimestamp"]) ?? AuditFixtureOracle.micros(meta["creationTimestamp"])
            #expect(row.stageTimestamp.microseconds == stage, "\(row.auditID)")
            #expect(row.common.id == "\(row.auditID):\(row.stage)")
            let credentials =
                ["secrets", "tokenreviews"].contains(ref["resource"] as? String ?? "")
                || (ref["resource"] as? String == "serviceaccounts" && ref["subresource"] as? String == "token")
            if credentials {
                #expect(row.requestObject == nil && row.responseObject == nil, "\(row.auditID): a credential's body is never stored")
            } else if let body = e["requestObject"] {
                let ours = try JSONSerialization.jsonObject(with: Data(try #require(row.requestObject).utf8), options: [.fragmentsAllowed])
                #expect(NSDictionary(dictionary: ["v": ours]).isEqual(to: ["v": body]))
            } else {
                #expect(row.requestObject == nil)
            }
        }
    }

    @Test func v1beta1TimestampsMapToStageAndReceived() throws {
        let line = try Fixtures.text("audit/audit2rbac_demo_original_v1beta1_757lines.log").split(separator: "\n")[0]
        let row = try #require(rows(decodeAudit(String(line))).first)
        #expect(row.stageTimestamp.iso8601 == "2017-09-11T19:55:05.000000Z")
        #expect(row.requestReceivedTimestamp?.iso8601 == "2017-09-11T19:55:05.000000Z")
        #expect(row.impersonatedUserName == "bob")
        #expect(row.common.usernames == ["system:admin", "bob"])
    }

    @Test func execIsACreateOnSubresourceWith101() throws {
        let row = try #require(rows(decodeAudit(try Fixtures.text("audit/falco-trace-files/exec_pod.json"))).first)
        #expect(row.verb == "create")
        #expect(row.subresource == "exec")
        #expect(row.responseCode == 101)
        #expect(row.stage == "ResponseStarted")
        #expect(row.authorizationDecision == "allow")
    }

    /// JSON lets a writer escape any key (`\/`, `\u0061`; Foundation's encoder writes `\/`): the
    /// same event escaped must give the same row, the decision annotation included.
    @Test func escapedKeysAreTheSameKeys() throws {
        let text = try Fixtures.text("audit/falco-trace-files/exec_pod.json")
            .replacingOccurrences(of: "authorization.k8s.io/decision", with: "authorization.k8s.io\\/decision")
            .replacingOccurrences(of: "\"verb\"", with: "\"v\\u0065rb\"")
        #expect(text.contains("k8s.io\\/decision") && text.contains("v\\u0065rb"))
        let row = try #require(rows(decodeAudit(text)).first)
        #expect(row.verb == "create")
        #expect(row.authorizationDecision == "allow")
    }

    @Test func nonResourceForbiddenRequest() throws {
        let row = try #require(rows(decodeAudit(try Fixtures.text("audit/openshift/clo_logsamples_raw_audit_oauth-apiserver.json"))).first)
        #expect(row.resource == nil)
        #expect(row.verb == "head")
        #expect(row.requestURI == "/")
        #expect(row.responseCode == 403)
        #expect(row.authorizationDecision == "forbid")
        #expect(row.common.sourceIP == "10.131.0.5")
    }

    @Test func nullTimestampsFallBack() throws {
        let event =
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"RequestReceived","requestURI":"/api","verb":"get","user":{"username":"u"},"stageTimestamp":null,"requestReceivedTimestamp":"2026-11-27T10:00:00.5+01:00"}"#
        let row = try #require(rows(decodeAudit(event)).first)
        #expect(row.stageTimestamp.iso8601 == "2026-11-27T09:00:00.500000Z")
        #expect(row.responseCode == nil)
    }

    @Test func eventListWrapperYieldsEveryItem() throws {
        let lines = try Fixtures.text("audit/openshift/clo_apiaudit_audit.log").split(separator: "\n")
        let list = #"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["# + lines.joined(separator: ",") + "]}"
        let got = rows(decodeAudit(list))
        #expect(got.count == 5)
        #expect(got.filter { $0.responseCode == 403 }.count == 1)
    }

    @Test func eventListWithBadItemKeepsTheGoodOnes() throws {
        let good = try Fixtures.text("audit/falco-trace-files/exec_pod.json").trimmingCharacters(in: .whitespacesAndNewlines)
        let list = #"{"kind":"EventList","items":["# + good + #",{"kind":"Event","stage":"ResponseComplete"},42]}"#
        let outcomes = decodeAudit(list)
        #expect(rows(outcomes).count == 1)
        let rejected = outcomes.compactMap { if case .rejected(let r) = $0 { return r } else { return nil } }
        #expect(rejected.map(\.item) == [1, 2])
        #expect(rejected[0].reason == "missing auditID")
    }

    @Test func aksExportAndSingleRecordWithBOM() throws {
        let all = rows(decodeAudit(try Fixtures.text("audit/managed-clusters/aks_eventhub_records_22.json")))
        #expect(all.count == 22)
        #expect(all.allSatisfy { $0.common.sourceName?.hasPrefix("kube-apiserver") == true })
        let bom = try Fixtures.data("audit/managed-clusters/aks_eventhub_single_record.json")
        var single: [RowOutcome<AuditLogRow>] = []
        AuditDecoder.decode(Array(bom), context: IngestContext(sourceType: .auditFile)) { single.append($0) }
        #expect(rows(single).count == 1)
    }

    @Test func nonAuditAKSCategoryIsSkippedNotRejected() {
        let record = #"{"category":"kube-apiserver","properties":{"log":"I0505 10:00:00.000000 1 foo.go:1] hello","pod":"kube-apiserver-1"}}"#
        guard case .skipped? = decodeAudit(record).first else { Issue.record("expected skipped"); return }
    }

    @Test(arguments: [
        (#"{"kind":0}"#, "not an audit event"),
        (#"{"auditID":"x","stage":"ResponseComplete"}"#, "missing stageTimestamp"),
        (#"{"auditID":"x","stageTimestamp":"2020-01-01T00:00:00Z"}"#, "missing stage"),
        (#"{"auditID":"x","stage":"s","stageTimestamp":"yesterday"}"#, "invalid timestamp"),
        (#"{"auditID":"x","stage":"s","stageTimestamp":"2020-01-01T00:00:00Z","responseStatus":{"code":"200"}}"#, "malformed JSON"),
        (#"{"auditID":"x","stage":"s","#, "malformed JSON"),
        (#"[1,2]"#, "not a JSON object"),
        (#"{"kind":"Pod","auditID":"x"}"#, "not an audit event")
    ])
    func badEventsAreRejectedWithAReason(text: String, reason: String) {
        guard case .rejected(let r)? = decodeAudit(text).first else { Issue.record("not rejected: \(text)"); return }
        #expect(r.reason == reason, "\(r)")
    }

    @Test func emailsAndDomainsFromUserNames() throws {
        let event =
            #"{"auditID":"e","stage":"ResponseComplete","stageTimestamp":"2026-01-01T00:00:00Z","user":{"username":"alice@example.com"},"impersonatedUser":{"username":"system:serviceaccount:ns:sa"}}"#
        let row = try #require(rows(decodeAudit(event)).first)
        #expect(row.common.emails == ["alice@example.com"])
        #expect(row.common.domains == ["example.com"])
        #expect(row.common.usernames == ["alice@example.com", "system:serviceaccount:ns:sa"])
    }

    @Test func valuesFollowTheSchema() throws {
        let row = try #require(rows(decodeAudit(try Fixtures.text("audit/falco-trace-files/exec_pod.json"))).first)
        #expect(row.values.count == AuditLogRow.schema.columns.count)
        let byName = Dictionary(uniqueKeysWithValues: zip(AuditLogRow.schema.columns.map(\.name), row.values))
        #expect(byName["verb"] == .text("create"))
        #expect(byName["response_code"] == .int(101))
        #expect(byName["tp_table"] == .text("kubernetes_audit_logs"))
        #expect(byName["tp_date"] == .text(String(row.stageTimestamp.iso8601.prefix(10))))
        #expect(byName["source_ips"] == .text(#"["192.168.64.1"]"#) || byName["source_ips"] != .null)
    }
}
