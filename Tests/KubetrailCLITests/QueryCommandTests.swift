import Foundation
import Testing
import TestSupport

/// One database with the OpenShift fixture (100 events: 72×200, 15×201, 4×403, …) for every test.
final class LoadedDatabase: @unchecked Sendable {
    static let sqlite = try! LoadedDatabase(.sqlite)
    static let postgres = try! LoadedDatabase(.postgres)
    static func on(_ backend: TestBackend) -> String { backend == .sqlite ? sqlite.path : postgres.path }
    let dir: TemporaryDirectory
    let path: String

    init(_ backend: TestBackend) throws {
        dir = try TemporaryDirectory()
        path = try backend.location(in: dir, name: "q.db")
        let r = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").path, "--db", path])
        precondition(r.status == 0, r.stderr)
    }
}

@Suite(.serialized) struct QueryCommandTests {
    let forbidden = "SELECT audit_id, response_code, source_ips, user_name FROM kubernetes_audit_logs WHERE response_code = 403 ORDER BY audit_id"

    @Test(arguments: TestBackend.allCases) func jsonOutputIsValidWithTypedValues(backend: TestBackend) throws {
        let db = LoadedDatabase.on(backend)
        let r = try Subprocess.kubetrail(["query", "--db", db, "--output", "json", forbidden])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 4)
        #expect(rows.allSatisfy { ($0["response_code"] as? Int) == 403 })
        #expect(rows.allSatisfy { ($0["source_ips"] as? [String])?.isEmpty == false })  // list columns are JSON arrays
    }

    @Test(arguments: TestBackend.allCases) func jsonlCsvLineAndTableAgree(backend: TestBackend) throws {
        let db = LoadedDatabase.on(backend)
        let jsonl = try Subprocess.kubetrail(["query", "--db", db, "--output", "jsonl", forbidden]).stdout
        let objects = try jsonl.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let ids = objects.map { $0["audit_id"] as! String }
        #expect(ids.count == 4)

        let csv = try Subprocess.kubetrail(["query", "--db", db, "--output", "csv", forbidden]).stdout
        let csvLines = csv.split(separator: "\n").map(String.init)
        #expect(csvLines[0] == "audit_id,response_code,source_ips,user_name")
        #expect(csvLines.dropFirst().map { String($0.split(separator: ",")[0]) } == ids)
        #expect(csvLines[1].contains("\"[\"\""))  // the JSON list is quoted per RFC 4180

        let line = try Subprocess.kubetrail(["query", "--db", db, "--output", "line", forbidden]).stdout
        #expect(line.components(separatedBy: "response_code = 403").count - 1 == 4)

        let table = try Subprocess.kubetrail(["query", "--db", db, forbidden]).stdout
        #expect(table.contains("| audit_id "))
        #expect(table.hasSuffix("(4 rows)\n"))
        for id in ids { #expect(table.contains(id)) }
    }

    @Test(arguments: TestBackend.allCases) func sqlFromAFileAndFromStdin(backend: TestBackend) throws {
        let db = LoadedDatabase.on(backend)
        let dir = try TemporaryDirectory()
        let file = try dir.write("q.sql", "-- how many forbidden\nSELECT COUNT(*) AS n FROM kubernetes_audit_logs WHERE response_code IN (401, 403);\n")
        let fromFile = try Subprocess.kubetrail(["query", "--db", db, "--output", "csv", file])
        #expect(fromFile.stdout == "n\n4\n")
        let fromStdin = try Subprocess.kubetrail(["query", "--db", db, "--output", "csv"], stdin: Data("SELECT COUNT(*) AS n FROM kubernetes_audit_logs".utf8))
        #expect(fromStdin.stdout == "n\n100\n")
    }

    @Test(arguments: TestBackend.allCases) func databaseFromTheEnvironment(backend: TestBackend) throws {
        let db = LoadedDatabase.on(backend)
        let r = try Subprocess.kubetrail(["query", "--output", "csv", "SELECT COUNT(*) AS n FROM kubernetes_audit_logs"], environment: ["KUBETRAIL_DB": db])
        #expect(r.stdout == "n\n100\n")
    }

    @Test(arguments: TestBackend.allCases) func sqlErrorsExitOneWithTheEngineMessage(backend: TestBackend) throws {
        let db = LoadedDatabase.on(backend)
        let r = try Subprocess.kubetrail(["query", "--db", db, "SELECT nope FROM kubernetes_audit_logs"])
        #expect(r.status == 1)
        #expect(
            r.stderr.hasPrefix("Error: ") && r.stderr.contains(backend == .sqlite ? "no such column: nope" : "column \"nope\" does not exist"), "\(r.stderr)")
        let write = try Subprocess.kubetrail(["query", "--db", db, "DROP TABLE kubernetes_audit_logs"])
        #expect(write.status == 1)
        #expect(write.stderr.contains(backend == .sqlite ? "not authorized" : "cannot execute DROP TABLE in a read-only transaction"), "\(write.stderr)")
        let interval = try Subprocess.kubetrail(["query", "--db", db, "SELECT 1 WHERE NOW() > NOW() - INTERVAL '3 fortnights'"])
        #expect(interval.status == 1)
        #expect(
            interval.stderr.contains(backend == .sqlite ? "unknown unit 'fortnights'" : "invalid input syntax for type interval: \"3 fortnights\""),
            "\(interval.stderr)")
        guard backend == .sqlite else { return }
        let missing = try Subprocess.kubetrail(["query", "--db", "/nonexistent/x.db", "SELECT 1"])
        #expect(missing.status == 1 && missing.stderr.contains("no database at /nonexistent/x.db"))
    }

    @Test(arguments: TestBackend.allCases) func tablesListsCountsAndRanges(backend: TestBackend) throws {
        let db = LoadedDatabase.on(backend)
        let r = try Subprocess.kubetrail(["tables", "--db", db])
        #expect(r.status == 0)
        for t in ["kubernetes_audit_logs", "kubernetes_pod_logs", "kubernetes_events", "kubernetes_resources"] { #expect(r.stdout.contains(t)) }
        #expect(r.stdout.contains("| 100 "))
        #expect(r.stdout.contains("2023-06-12T"))
        let one = try Subprocess.kubetrail(["tables", "kubernetes_audit_logs", "--db", db])
        #expect(one.stdout.contains("| response_code "))
        #expect(one.stdout.contains("| int "))
        #expect(one.stdout.contains("100 rows"))
        let none = try Subprocess.kubetrail(["tables", "kubernetes_nothing", "--db", db])
        #expect(none.status == 1)
    }

    @Test(arguments: TestBackend.allCases) func interactiveShellOnATerminal(backend: TestBackend) throws {
        let db = LoadedDatabase.on(backend)
        // script(1) gives the command a real pseudo-terminal, as a person would have.
        let input = ".tables\n.output csv\nSELECT COUNT(*) AS n\nFROM kubernetes_audit_logs;\n.inspect kubernetes_events\nSELECT nope;\n.output bogus\n.exit\n"
        let r = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/script"),
            ["-qec", "\(Subprocess.productURL("kubetrail").path) query --db \(db)", "/dev/null"],
            stdin: Data(input.utf8))
        let out = r.stdout.replacingOccurrences(of: "\r", with: "")
        #expect(out.contains("kubetrail query shell"))
        #expect(out.contains("kubernetes_pod_logs"))
        #expect(out.contains("n\n100\n"))
        #expect(out.contains("| reporting_controller "))
        #expect(out.contains(backend == .sqlite ? "Error: no such column: nope" : "Error: column \"nope\" does not exist"), "\(out)")
        #expect(out.contains("usage: .output table|csv|json|jsonl|line"))
        #expect(r.status == 0)
    }
}
