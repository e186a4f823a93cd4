import Foundation
import Testing
import TestSupport

/// The README's Export and audit-trail sections, run as written (bash, the built `kubetrail`
/// first on PATH) on a store an aggregator has signed digests for; then the README's DuckDB
/// query on the Tailpipe-layout export.
@Suite struct ReadmeExportTests {
    /// The ```sh blocks (or the ```sql block) of a README section, continuation lines joined.
    static func blocks(section: String, language: String) throws -> [String] {
        let readme = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "\n## \(section)\n") else { throw ServerError("README has no section \(section)") }
        let rest = readme[start.upperBound...]
        let body = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        var out: [String] = []
        for part in body.components(separatedBy: "```\(language)\n").dropFirst() {
            let code = part.components(separatedBy: "\n```")[0]
            out += code.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n").map(String.init).filter {
                !$0.trimmingCharacters(in: .whitespaces).isEmpty
            }
        }
        return out
    }

    @Test func exportAndAuditTrailSectionsRunAsWritten() throws {
        let f = try AggregatorFixture()
        let work = f.dir.path("")
        let offHost = f.dir.path("offhost")
        let imported = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", f.db])
        #expect(imported.status == 0)
        // The aggregator signs the chain (its key lands beside the database) and copies digests.
        let server = try f.start(["--digest-directory", offHost])
        server.stop()
        let bin = Subprocess.productURL("kubetrail").deletingLastPathComponent().path
        let env = ["HOME": work, "KUBETRAIL_DB": f.db, "PATH": bin + ":/usr/bin:/bin"]
        try FileManager.default.createDirectory(atPath: work + "/.kubetrail", withIntermediateDirectories: true)
        let commands = try Self.blocks(section: "Export", language: "sh") + Self.blocks(section: "Audit trail and compliance report", language: "sh")
        #expect(commands.count == 6, "\(commands)")
        for command in commands {
            let line = command.replacingOccurrences(of: "/mnt/offhost/digests", with: offHost)
            let r = try Subprocess.run(
                URL(fileURLWithPath: "/bin/bash"), ["-euo", "pipefail", "-c", line], environment: env, currentDirectory: URL(fileURLWithPath: work))
            #expect(r.status == 0, "\(line)\n\(r.stdout)\(r.stderr)")
        }
        let report = try String(contentsOfFile: work + "/q3-report.html", encoding: .utf8)
        #expect(report.hasPrefix("<!DOCTYPE html>") && report.contains("Audit trail integrity"))
        let sql = try Self.blocks(section: "Export", language: "sql")
        #expect(sql.count == 1)
        let rows =
            try DuckDB.json(
                """
                import duckdb, json, os, sys
                os.chdir(sys.argv[1])
                print(json.dumps([[str(c) for c in r] for r in duckdb.sql(sys.argv[2]).fetchall()]))
                """, [work, sql[0]]) as! [[String]]
        let total = rows.reduce(0) { $0 + Int($1[2])! }
        #expect(total == 37 && rows.allSatisfy { $0[0] == "2017-09-11" }, "\(rows)")
    }
}
