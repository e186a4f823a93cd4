import Foundation
import Testing
import TestSupport

func lastNumber(_ summary: String, _ label: String) -> Int? {
    for line in summary.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces).hasPrefix(label) {
        let digits = line.drop(while: { !$0.isNumber }).prefix(while: { $0.isNumber || $0 == "," }).filter { $0 != "," }
        return Int(digits)
    }
    return nil
}

func count(_ db: String, _ sql: String) throws -> Int {
    let r = try Subprocess.kubetrail(["query", "--db", db, "--output", "csv", sql])
    #expect(r.status == 0, "\(r.stderr)")
    return Int(r.stdout.split(separator: "\n").dropFirst().first ?? "") ?? -1
}

@Suite(.serialized) struct ImportCommandTests {
    @Test(arguments: TestBackend.allCases) func auditFixturesImportOnceAndReimportAsDuplicates(backend: TestBackend) throws {
        let dir = try TemporaryDirectory()
        let db = try backend.location(in: dir, name: "k.db")
        let first = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit").path, "--db", db, "--cluster-name", "fixtures"])
        #expect(first.status == 0, "\(first.stderr)")
        // Independently: distinct auditID:stage over every fixture event.
        var distinct = Set<String>()
        var total = 0
        for file in Fixtures.files(under: "audit") where file.hasSuffix(".log") || file.hasSuffix(".json") {
            for e in try AuditFixtureOracle.events(in: file) {
                total += 1
                distinct.insert("\(e["auditID"] as! String):\(e["stage"] as! String)")
            }
        }
        #expect(lastNumber(first.stdout, "stored") == distinct.count)
        #expect(lastNumber(first.stdout, "duplicates") == total - distinct.count)
        #expect(lastNumber(first.stdout, "rejected") == 1)
        #expect(first.stderr.contains("fal_01_003.json:1: not an audit event"))
        #expect(try count(db, "SELECT COUNT(*) FROM kubernetes_audit_logs") == distinct.count)
        #expect(try count(db, "SELECT COUNT(*) FROM kubernetes_audit_logs WHERE tp_index = 'fixtures' AND tp_source_type = 'audit_file'") == distinct.count)

        let again = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit").path, "--db", db])
        #expect(again.status == 0)
        #expect(lastNumber(again.stdout, "stored") == 0)
        #expect(lastNumber(again.stdout, "duplicates") == total)
    }

    @Test func badInputIsReportedByLineAndGoodLinesAreKept() throws {
        let dir = try TemporaryDirectory()
        let good = try Fixtures.text("audit/openshift/clo_apiaudit_audit.log").split(separator: "\n").map(String.init)
        var bytes = Data()
        bytes.append(Data((good[0] + "\n").utf8))  // 1 good
        bytes.append(Data("{\"kind\":\"Event\",\"auditID\":\"trunc\n".utf8))  // 2 truncated
        bytes.append(Data((good[1] + "\n").utf8))  // 3 good
        bytes.append(Data("this is not json\n".utf8))  // 4 garbage
        var withBadUTF8 = Array(good[2].utf8)
        let uriKey = Array(#""requestURI":"/"#.utf8)
        let at = try #require((0..<withBadUTF8.count).first { withBadUTF8[$0...].starts(with: uriKey) })
        withBadUTF8.insert(contentsOf: [0xC3, 0x28, 0xFF], at: at + uriKey.count)
        bytes.append(Data(withBadUTF8 + [0x0A]))  // 5 good, invalid UTF-8 repaired
        bytes.append(Data(("{\"pad\":\"" + String(repeating: "x", count: 7000) + "\"}\n").utf8))  // 6 oversized
        bytes.append(Data((good[3] + "\n").utf8))  // 7 good
        bytes.append(Data("{\"kind\":\"Event\",\"auditID\":\"no-stage\",\"stageTimestamp\":\"2026-01-01T00:00:00Z\"}\n".utf8))  // 8
        bytes.append(Data(good[4].utf8))  // 9 good, no final newline
        let path = try dir.write("mixed.log", bytes)
        let r = try Subprocess.kubetrail(["import", "audit", path, "--db", dir.path("k.db"), "--max-line-bytes", "6000"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(lastNumber(r.stdout, "stored") == 5)
        #expect(lastNumber(r.stdout, "rejected") == 4)
        #expect(lastNumber(r.stdout, "records read") == 9)
        for line in [2, 4, 6, 8] { #expect(r.stderr.contains("mixed.log:\(line):"), "line \(line): \(r.stderr)") }
        #expect(r.stderr.contains("exceeds the 6000-byte limit"))
        #expect(r.stdout.contains("oversized record"))
        #expect(try count(dir.path("k.db"), "SELECT COUNT(*) FROM kubernetes_audit_logs WHERE request_uri LIKE '%\u{FFFD}%'") == 1)
    }

    @Test func standardInputAndGzipGiveTheSameRows() throws {
        let dir = try TemporaryDirectory()
        let file = Fixtures.url("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").path
        let stdin = try Subprocess.kubetrail(
            ["import", "audit", "-", "--db", dir.path("a.db")], stdin: Fixtures.data("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log"))
        #expect(lastNumber(stdin.stdout, "stored") == 100)
        let gz = dir.path("audit.log.gz")
        let gzip = try Subprocess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "gzip -c '\(file)' > '\(gz)'"])
        #expect(gzip.status == 0)
        let fromGz = try Subprocess.kubetrail(["import", "audit", gz, "--db", dir.path("b.db")])
        #expect(lastNumber(fromGz.stdout, "stored") == 100)
        let sql = "SELECT group_concat(tp_id || response_code || verb, ',') FROM (SELECT * FROM kubernetes_audit_logs ORDER BY tp_id)"
        let a = try Subprocess.kubetrail(["query", "--db", dir.path("a.db"), "--output", "csv", sql]).stdout
        let b = try Subprocess.kubetrail(["query", "--db", dir.path("b.db"), "--output", "csv", sql]).stdout
        #expect(a == b && a.count > 1000)
    }

    @Test func corruptGzipKeepsWhatWasReadAndSaysWhy() throws {
        let dir = try TemporaryDirectory()
        let gz = dir.path("cut.log.gz")
        let file = Fixtures.url("audit/audit2rbac_demo_original_v1beta1_757lines.log").path
        _ = try Subprocess.run(
            URL(fileURLWithPath: "/bin/sh"), ["-c", "gzip -c '\(file)' > '\(gz).full' && head -c $(( $(stat -c %s '\(gz).full') / 2 )) '\(gz).full' > '\(gz)'"])
        let r = try Subprocess.kubetrail(["import", "audit", gz, "--db", dir.path("k.db")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("truncated gzip") || r.stderr.contains("gzip"))
        #expect(try count(dir.path("k.db"), "SELECT COUNT(*) FROM kubernetes_audit_logs") > 0)
    }

    @Test func podLogsFromAKubeletTreeWithContainerSymlinks() throws {
        let root = try TemporaryDirectory()
        let uid = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
        let podDir = "pods/default_web-7d9f_\(uid)"
        try root.write("\(podDir)/app/0.log", Fixtures.data("container-logs/otel_examples_crio_0.log"))
        try root.write("\(podDir)/sidecar/2.log", Fixtures.data("container-logs/otel_examples_docker_json_0.log"))
        try FileManager.default.createDirectory(atPath: root.path("containers"), withIntermediateDirectories: true)
        let id = String(repeating: "ab", count: 32)
        try FileManager.default.createSymbolicLink(
            atPath: root.path("containers/web-7d9f_default_app-\(id).log"), withDestinationPath: root.path("\(podDir)/app/0.log"))
        let db = root.path("k.db")
        let r = try Subprocess.kubetrail(["import", "pod-logs", root.path("pods"), "--db", db, "--node-name", "node-a"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(lastNumber(r.stdout, "stored") == 11)  // 5 CRI records (one P+F pair) + 6 docker records (one split pair)
        let csv = try Subprocess.kubetrail([
            "query", "--db", db, "--output", "csv",
            "SELECT namespace, pod_name, pod_uid, container_name, restart_count, node_name, stream, log_message FROM kubernetes_pod_logs WHERE log_message LIKE '%(part of log)%' ORDER BY container_name"
        ]).stdout
        let lines = csv.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(
            lines[1]
                == "default,web-7d9f,\(uid),app,0,node-a,stdout,example: 13 (part of log) Tue Feb 16 08:59:33 UTC 2021example: 13 (end of log) Tue Feb 16 08:59:33 UTC 2021"
        )
        #expect(lines[2].hasPrefix("default,web-7d9f,\(uid),sidecar,2,node-a,stdout,example: 13 (part of log)"))
        // The same file through its /var/log/containers link is recognised, and adds its container id.
        let viaLink = try Subprocess.kubetrail(["import", "pod-logs", root.path("containers"), "--db", db, "--node-name", "node-a"])
        #expect(lastNumber(viaLink.stdout, "stored") == 0)
        #expect(lastNumber(viaLink.stdout, "duplicates") == 5)
    }

    @Test func corruptedDockerLineIsRejectedOthersStored() throws {
        let dir = try TemporaryDirectory()
        let r = try Subprocess.kubetrail(["import", "pod-logs", Fixtures.url("container-logs/beats_docker_json_corrupted.log").path, "--db", dir.path("k.db")])
        #expect(r.status == 0)
        #expect(lastNumber(r.stdout, "stored") == 20)
        #expect(r.stderr.contains("beats_docker_json_corrupted.log:7:"))
    }

    @Test func eventsAndResourcesFromApiResponses() throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("k.db")
        let events = try Subprocess.kubetrail([
            "import", "events",
            Fixtures.url("k8s-api/ddagent_core_v1_EventList_k8s1.x_2016.json").path,
            Fixtures.url("k8s-api/fluentbit_eventlist_v1_with_creationTimestamp.json").path,
            Fixtures.url("k8s-api/fluentbit_watch_v1_with_lastTimestamp.json").path, "--db", db
        ])
        #expect(events.status == 0, "\(events.stderr)")
        #expect(lastNumber(events.stdout, "stored") == 21)
        #expect(try count(db, "SELECT COUNT(*) FROM kubernetes_events WHERE reason = 'FailedMount' AND count = 16") == 1)
        let resources = try Subprocess.kubetrail([
            "import", "resources",
            Fixtures.url("k8s-api/ddagent_kubelet_PodList_k8s1.2.json").path,
            Fixtures.url("k8s-api/ddagent_ServiceList_gke_2017_2.json").path,
            Fixtures.url("k8s-api/javaclient_deployment.json").path, "--db", db
        ])
        #expect(resources.status == 0, "\(resources.stderr)")
        #expect(try count(db, "SELECT COUNT(*) FROM kubernetes_resources WHERE resource_type = 'Pod'") == 4)
        #expect(try count(db, "SELECT COUNT(*) FROM kubernetes_resources WHERE resource_type = 'Deployment'") == 1)
        // Re-importing the same objects changes nothing.
        let again = try Subprocess.kubetrail(["import", "resources", Fixtures.url("k8s-api/ddagent_kubelet_PodList_k8s1.2.json").path, "--db", db])
        #expect(lastNumber(again.stdout, "duplicates") == 4)
    }

    @Test func missingInputIsAnError() throws {
        let dir = try TemporaryDirectory()
        let r = try Subprocess.kubetrail(["import", "audit", "/nonexistent/audit.log", "--db", dir.path("k.db")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("/nonexistent/audit.log: no such file or directory"))
        let bad = try Subprocess.kubetrail(["import", "nonsense", "x"])
        #expect(bad.status != 0)
    }
}
