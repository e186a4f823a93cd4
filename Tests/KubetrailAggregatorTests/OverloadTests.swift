import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct OverloadTests {
    /// A file-size limit with SIGXFSZ ignored makes the aggregator's writes fail as on a full disk.
    @Test func fullDiskAnswers503AndNothingIsAcknowledgedUnstored() throws {
        let f = try AggregatorFixture()
        // Prepare the database first, so only the batch itself needs room.
        let warm = try f.start()
        warm.stop()
        let kubetrail = Subprocess.productURL("kubetrail").path
        let args = (["aggregator", "--listen", "127.0.0.1:0"] + f.serverArguments).map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let size = (try FileManager.default.attributesOfItem(atPath: f.db)[.size] as? Int ?? 0) / 512 + 64
        let logs = f.dir.path("agg.log")
        process.arguments = ["-c", "trap '' XFSZ; ulimit -f \(size); exec '\(kubetrail)' \(args) > '\(f.dir.path("out.txt"))' 2> '\(logs)'"]
        try process.runUnblocked()
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        var port = 0
        for _ in 0..<200 where port == 0 {
            Thread.sleep(forTimeInterval: 0.05)
            let text = (try? String(contentsOfFile: f.dir.path("out.txt"), encoding: .utf8)) ?? ""
            if let r = text.range(of: "listening on http://127.0.0.1:") { port = Int(text[r.upperBound...].prefix(while: \.isNumber)) ?? 0 }
        }
        #expect(port > 0)
        var encoder = try AggregatorFixture.fixtureBatch()
        encoder.append(.init(kind: .auditLine, path: "/pad", identity: "pad"), offset: 0, bytes: Array(repeating: 0x20, count: 1))
        let batch = try f.write("b.z", encoder.deflated())
        let reply = try Curl.request(
            "http://127.0.0.1:\(port)/v1/ingest", headers: ["Authorization": "Bearer \(f.ingestToken)", "Content-Encoding": "deflate"], bodyFile: batch,
            extra: ["-i"])
        #expect(reply.status == 503, "\(reply.body)")
        #expect(reply.body.lowercased().contains("retry-after:"))
        #expect(reply.body.contains("store cannot commit"))
        process.terminate()
        process.waitUntilExit()
        // With room again, the agent's resend is stored in full, once.
        let server = try f.start()
        defer { server.stop() }
        #expect(try f.ingest(server, file: batch).json?["duplicate"] as? Bool == false)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
        // And the logs never hold a token.
        let log = (try? String(contentsOfFile: logs, encoding: .utf8)) ?? ""
        #expect(log.contains("commit failed"))
        #expect(!log.contains(f.ingestToken) && !log.contains(f.queryToken))
    }
}
