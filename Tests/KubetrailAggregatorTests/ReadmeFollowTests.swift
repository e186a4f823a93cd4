import Foundation
import Testing
import TestSupport

/// The README's Follow section, run as written (bash, the built `kubetrail` first on PATH)
/// against a store an aggregator serves: the history-only command ends, the follows run until
/// stopped.
@Suite struct ReadmeFollowTests {
    @Test func followSectionRunsAsWritten() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        let work = f.dir.path("")
        try FileManager.default.copyItem(atPath: f.dir.path("query.tokens"), toPath: work + "/query.token")
        let bin = Subprocess.productURL("kubetrail").deletingLastPathComponent().path
        let env = ["HOME": work, "KUBETRAIL_DB": f.db, "PATH": bin + ":/usr/bin:/bin"]
        let commands = try ReadmeExportTests.blocks(section: "Follow", language: "sh")
        #expect(commands.count == 4, "\(commands)")
        for command in commands {
            let line = command.replacingOccurrences(of: "http://127.0.0.1:8080", with: server.baseURL)
            let follows = line.contains(" -f ") || line.contains("kubetrail tail ")
            let r = try Subprocess.run(
                URL(fileURLWithPath: "/bin/bash"), ["-euo", "pipefail", "-c", "timeout 8 " + line], environment: env,
                currentDirectory: URL(fileURLWithPath: work))
            // A follow is still running when `timeout` stops it (124); the rest end on their own.
            #expect(r.status == (follows ? 124 : 0), "\(line)\n\(r.stdout)\(r.stderr)")
        }
        #expect(FileManager.default.fileExists(atPath: work + "/events.cursor"))
    }
}
