import Foundation
import KubetrailCore
import Testing
import TestSupport

/// The security review's probes (issue 13) against a real aggregator: time limits that hold
/// inside function calls and on `/v1/export`, a cap on queries running at once, and bounded
/// memory for buffered JSON answers.
@Suite(.serialized) struct QueryLimitAPITests {
    func query(_ server: ServerProcess, _ f: AggregatorFixture, _ sql: String, format: String = "json", extra: [String] = []) throws -> Curl.Reply {
        try Curl.request(
            server.baseURL + "/v1/query", headers: ["Authorization": "Bearer \(f.queryToken)"],
            body: try JSONSerialization.data(withJSONObject: ["sql": sql, "format": format]), extra: extra)
    }

    static let a4M = "replace(hex(zeroblob(2000000)), '0', 'a')"
    static let replaceColumns =
        "SELECT " + Array(repeating: "length(replace(x, 'a', 'bc'))", count: 300).joined(separator: ", ")
        + " FROM (SELECT \(a4M) AS x)"
    static let slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n"

    /// The peak resident memory of a process, from Linux's accounting.
    static func peakRSSMiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    @Test func functionHeavyQueriesStopAtTheTimeLimit() throws {
        let f = try AggregatorFixture()
        let server = try f.start(["--query-timeout", "1"])
        defer { server.stop() }
        let probes = [
            ("replace columns", Self.replaceColumns),
            (
                "ilike sum",
                "SELECT " + Array(repeating: "(h ILIKE p)", count: 300).joined(separator: " + ")
                    + " FROM (SELECT printf('%.*c', 40000, 'a') AS h, '%' || printf('%.*c', 1200, 'a') || 'b' AS p)"
            ),
            ("like", "SELECT h LIKE '%' || p FROM (SELECT \(Self.a4M) AS h, replace(hex(zeroblob(1000)), '0', 'a') || 'b' AS p)")
        ]
        for (name, sql) in probes {
            let started = Date()
            let r = try query(server, f, sql)
            let seconds = Date().timeIntervalSince(started)
            print("probe \(name) over HTTP: \(String(format: "%.2f", seconds)) s, \(r.status)")
            #expect(r.status == 400 && r.body.contains("time limit"), "\(name): \(r.status) \(r.body.prefix(200))")
            #expect(seconds < 8, "\(name) took \(seconds) s with a 1 s limit")
        }
        let instr = try query(server, f, "SELECT instr(h, n) AS at FROM (SELECT \(Self.a4M) AS h, replace(hex(zeroblob(500000)), '0', 'a') || 'b' AS n)")
        #expect(instr.status == 200 && instr.body.contains("\"at\":0"), "\(instr.body.prefix(200))")
        #expect(try query(server, f, "SELECT 1 AS one").body.contains("\"one\":1"))
    }

    @Test func exportHasItsOwnTimeLimit() throws {
        let f = try AggregatorFixture()
        let server = try f.start(["--export-timeout", "1"])
        defer { server.stop() }
        #expect(try f.ingest(server, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        let condition = "verb <> (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n)"
        var parts = URLComponents(string: server.baseURL + "/v1/export")!
        parts.queryItems = [.init(name: "table", value: "kubernetes_audit_logs"), .init(name: "where", value: condition)]
        let started = Date()
        let r = try Curl.request(parts.url!.absoluteString, method: "GET", headers: ["Authorization": "Bearer \(f.queryToken)"])
        let seconds = Date().timeIntervalSince(started)
        print("export with a recursive where: \(String(format: "%.2f", seconds)) s, \(r.status)")
        #expect(r.body.contains("time limit"), "\(r.status) \(r.body.prefix(300))")
        #expect(seconds < 8)
        // The same export without the trick still streams every row.
        parts.queryItems = [.init(name: "table", value: "kubernetes_audit_logs")]
        let all = try Curl.request(parts.url!.absoluteString, method: "GET", headers: ["Authorization": "Bearer \(f.queryToken)"])
        #expect(all.status == 200 && all.body.contains("{\"end\":true}"))
    }

    @Test func queriesOverTheConcurrencyCapAreTurnedAwayAtOnce() throws {
        let f = try AggregatorFixture()
        // The slow queries hold their slots until the limit: long enough for every check below
        // on a loaded machine (the export check once came after they had ended).
        let server = try f.start(["--query-timeout", "15", "--max-concurrent-queries", "2"])
        defer { server.stop() }
        let group = DispatchGroup()
        let finished = NSLock()
        nonisolated(unsafe) var slowFinished = 0
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                _ = try? self.query(server, f, Self.slow)
                finished.withLock { slowFinished += 1 }
            }
        }
        // Once both slow queries hold their slots (their curl processes take a moment to start),
        // a third request is refused without waiting for either.
        var third: Curl.Reply
        let until = Date().addingTimeInterval(6)
        repeat {
            Thread.sleep(forTimeInterval: 0.2)
            third = try query(server, f, "SELECT 1", extra: ["-i"])
        } while third.status != 503 && Date() < until
        let runningWhenRefused = finished.withLock { slowFinished == 0 }
        var parts = URLComponents(string: server.baseURL + "/v1/export")!
        parts.queryItems = [.init(name: "table", value: "kubernetes_audit_logs")]
        let export = try Curl.request(parts.url!.absoluteString, method: "GET", headers: ["Authorization": "Bearer \(f.queryToken)"])
        #expect(third.status == 503, "\(third.body.prefix(300))")
        #expect(third.body.lowercased().contains("retry-after:"))
        // Not queued behind the running ones (which hold both cores of a small machine): refused
        // while both still ran, not answered once one had ended.
        #expect(runningWhenRefused)
        #expect(export.status == 503, "\(export.body.prefix(300))")
        group.wait()
        // The slots come back when the queries end.
        #expect(try query(server, f, "SELECT 1 AS one").body.contains("\"one\":1"))
    }

    @Test func concurrentBigJSONAnswersStayWellUnderTheMemoryLimit() throws {
        let f = try AggregatorFixture()
        let server = try f.start()
        defer { server.stop() }
        // About 60 MB of JSON each: under the old buffered cap (a quarter of 256 MiB).
        let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 58000) SELECT i, printf('%.*c', 1000, 'x') AS pad FROM n"
        let before = Self.peakRSSMiB(server.process.processIdentifier)
        let replies = Replies()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            replies.add(try? self.query(server, f, sql))
        }
        let (statuses, bodies) = replies.taken
        let peak = Self.peakRSSMiB(server.process.processIdentifier)
        print("8 concurrent 60 MB JSON queries: peak RSS \(before) MiB before, \(peak) MiB after; statuses \(statuses.sorted())")
        for (status, body) in zip(statuses, bodies) {
            #expect(status == 503 || (status == 400 && body.contains("use format=jsonl")), "\(status) \(body)")
        }
        #expect(peak < 256, "peak RSS \(peak) MiB")
        // The same rows stream as JSON lines.
        let lines = try query(server, f, sql, format: "jsonl")
        #expect(lines.status == 200 && lines.body.split(separator: "\n").count == 58000)
    }
}

private final class Replies: @unchecked Sendable {
    private let lock = NSLock()
    private var statuses: [Int] = []
    private var bodies: [String] = []
    func add(_ r: Curl.Reply?) {
        lock.lock()
        defer { lock.unlock() }
        statuses.append(r?.status ?? -1)
        bodies.append(String(r?.body.prefix(300) ?? ""))
    }
    var taken: ([Int], [String]) { lock.lock(); defer { lock.unlock() }; return (statuses, bodies) }
}
