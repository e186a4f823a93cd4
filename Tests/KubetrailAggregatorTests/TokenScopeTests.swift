import Foundation
import KubetrailCore
import Testing
import TestSupport

/// Tokens carry identity and scope (the review's forgery probes): a batch may only speak for the
/// node and cluster its token's line names, worker tokens ship no audit events, the webhook has
/// its own credential, and an event sent first under a real auditID no longer wins.
@Suite(.serialized) struct TokenScopeTests {
    let f: AggregatorFixture
    let controlPlane = "cp-\(UUID().uuidString)"
    let worker = "wk-\(UUID().uuidString)"

    init() throws {
        f = try AggregatorFixture()
        try f.dir.write(
            "scoped.tokens",
            """
            \(controlPlane) node=cp-1 cluster=test kinds=audit,logs
            \(worker) node=worker-1 kinds=logs
            \(f.webhookToken) kinds=webhook
            \(f.ingestToken)
            """)
    }

    func start() throws -> ServerProcess {
        try ServerProcess(arguments: ["--db", f.db, "--ingest-token-file", f.dir.path("scoped.tokens")])
    }

    func send(_ server: ServerProcess, _ batch: WireBatchEncoder, token: String) throws -> Curl.Reply {
        try f.ingest(server, file: f.write("b-\(UUID().uuidString).z", batch.deflated()), token: token)
    }

    static func lines() throws -> [String] {
        try Fixtures.text("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").split(separator: "\n").map(String.init)
    }

    @Test func batchesMaySpeakOnlyForTheirTokensNodeClusterAndKinds() throws {
        let server = try start()
        defer { server.stop() }
        // A worker's token: no audit events, and only its own node's name.
        let asWorker = try send(server, AggregatorFixture.fixtureBatch(node: "worker-1"), token: worker)
        #expect(asWorker.status == 403 && asWorker.body.contains("may not ship audit events"), "\(asWorker.body)")
        var logsOnly = WireBatchEncoder(node: "cp-1", cluster: "")
        logsOnly.append(
            .init(kind: .containerLogLine, path: "/var/log/pods/a_b_c/d/0.log", identity: "1"), offset: 0,
            bytes: Array("2026-12-01T10:00:00.000000000Z stdout F hello".utf8))
        let posing = try send(server, logsOnly, token: worker)
        #expect(posing.status == 403 && posing.body.contains("bound to node worker-1"), "\(posing.body)")
        // The control plane's token: its cluster only.
        var elsewhere = WireBatchEncoder(node: "cp-1", cluster: "prod")
        elsewhere.append(.init(kind: .auditLine, path: "/var/log/kube-apiserver/audit.log", identity: "1"), offset: 0, bytes: Array(try Self.lines()[0].utf8))
        let other = try send(server, elsewhere, token: controlPlane)
        #expect(other.status == 403 && other.body.contains("bound to cluster test"), "\(other.body)")
        #expect(try send(server, AggregatorFixture.fixtureBatch(node: "cp-1"), token: controlPlane).status == 200)
        // An unbound token keeps to the first cluster it sent.
        #expect(try send(server, AggregatorFixture.fixtureBatch(node: "n", auditCopy: 1), token: f.ingestToken).status == 200)
        var second = WireBatchEncoder(node: "n", cluster: "invented")
        second.append(.init(kind: .auditLine, path: "/a", identity: "2"), offset: 0, bytes: Array(try Self.lines()[1].utf8))
        let invented = try send(server, second, token: f.ingestToken)
        #expect(invented.status == 403 && invented.body.contains("cluster=NAME"), "\(invented.body)")
        #expect(try f.count("SELECT COUNT(DISTINCT tp_index) FROM kubernetes_audit_logs") == 1)
    }

    @Test func anEventSentFirstUnderARealAuditIDIsAConflictNotTheTruth() throws {
        let server = try start()
        defer { server.stop() }
        // The probe: a forged copy of a real event (same auditID and stage, other content) is
        // sent first, then kube-apiserver's genuine event arrives through the webhook.
        let genuine = try Self.lines()
        var forged = WireBatchEncoder(node: "cp-1", cluster: "test")
        forged.append(
            .init(kind: .auditLine, path: "/var/log/kube-apiserver/audit.log", identity: "1"), offset: 0,
            bytes: Array(genuine[0].replacingOccurrences(of: "\"requestURI\":\"", with: "\"requestURI\":\"/forged").utf8))
        #expect(try send(server, forged, token: controlPlane).status == 200)
        let list = Data((#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["# + genuine.joined(separator: ",") + "]}").utf8)
        let reply = try Curl.request(server.baseURL + "/v1/audit/webhook", headers: ["Authorization": "Bearer \(f.webhookToken)"], body: list)
        #expect(reply.status == 200, "\(reply.body)")
        #expect(reply.json?["conflicts"] as? Int == 1 && reply.json?["duplicates"] as? Int == 0, "\(reply.body)")
        server.stop()
        let verify = try Subprocess.kubetrail(["verify", "--db", f.db, "--skip-signatures"])
        #expect(verify.status == 1 && verify.stdout.contains("conflict: auditID b6560098-0bbb-4593-ad6a-9c0022e9dc87"), "\(verify.stdout)")
        let report = try Subprocess.kubetrail(["report", "--db", f.db, "--from", "2000-01-01T00:00:00Z"])
        #expect(report.stdout.contains("Conflicting audit events") && report.stdout.contains("b6560098-0bbb-4593-ad6a-9c0022e9dc87"), "\(report.stdout)")
    }

    @Test func shortTokensAndUnknownOptionsAreRefusedAtStart() throws {
        try f.dir.write("short.tokens", "hunter2\n")
        let short = try Subprocess.kubetrail(["aggregator", "--listen", "127.0.0.1:0", "--db", f.db, "--ingest-token-file", f.dir.path("short.tokens")])
        #expect(short.status != 0 && short.stderr.contains("at least 32 characters"), "\(short.stderr)")
        #expect(!short.stderr.contains("hunter2"), "a token is never printed")
        try f.dir.write("typo.tokens", "\(controlPlane) nodes=cp-1\n")
        let typo = try Subprocess.kubetrail(["aggregator", "--listen", "127.0.0.1:0", "--db", f.db, "--ingest-token-file", f.dir.path("typo.tokens")])
        #expect(typo.status != 0 && typo.stderr.contains("unknown option nodes"), "\(typo.stderr)")
    }
}
