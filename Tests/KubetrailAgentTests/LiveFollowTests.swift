import Foundation
import Testing
import TestSupport

/// `kubetrail logs -f` and `kubetrail tail` following an aggregator while an agent ships a
/// node's logs through kubelet-style rotation and a container restart: real processes, real
/// files, real sockets.
@Suite(.serialized) struct LiveFollowTests {
    func followArguments(_ node: NodeFixture, _ command: [String]) -> [String] {
        command + ["--server", "http://127.0.0.1:\(node.port)", "--token-file", node.dir.path("query.tokens")]
    }

    /// The number in each line `LineWriter.criLine` wrote, per `namespace/pod/container` prefix.
    func numbers(_ lines: [Substring]) -> [String: [Int]] {
        var seen: [String: [Int]] = [:]
        for line in lines {
            let words = line.split(separator: " ")
            guard words.count > 3, words[2] == "line", let n = Int(words[3]) else { continue }
            seen[String(words[0]), default: []].append(n)
        }
        return seen
    }

    @Test func logsFollowAcrossRotationAndARestartShowsEveryLineOnceInOrder() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let web = try node.makeContainer(pod: "web-1")
        let api = try node.makeContainer(pod: "api-1")
        try node.startAgent()
        let logs = ["logs", "-f", "-n", "shop", "--since", "2000-01-01T00:00:00Z"]
        let whole = try FollowerProcess(followArguments(node, logs), out: node.dir.path("whole.out"))
        let cursorFile = node.dir.path("resumed.cursor")
        var resumed = try FollowerProcess(followArguments(node, logs + ["--cursor-file", cursorFile]), out: node.dir.path("resumed.out"))
        // Another namespace's lines are not asked for.
        let other = try node.makeContainer(namespace: "kube-system", pod: "dns-1")
        LineWriter.append(other + "/0.log", (0..<50).map { LineWriter.criLine($0, tag: "dns") })

        var next = ["web-1": 0, "api-1": 0]
        func write(_ pod: String, _ file: String, _ count: Int) {
            let start = next[pod]!
            LineWriter.append(file, (start..<(start + count)).map { LineWriter.criLine($0, tag: pod) })
            next[pod] = start + count
        }
        for generation in 0..<3 {
            for _ in 0..<4 {
                write("web-1", web + "/0.log", 50)
                write("api-1", api + "/0.log", 50)
                Thread.sleep(forTimeInterval: 0.05)
            }
            // kubelet's rotation: the file renamed with a timestamp, a new one in its place.
            for dir in [web, api] {
                try FileManager.default.moveItem(atPath: dir + "/0.log", toPath: dir + "/0.log.20261127-10304\(generation)")
                _ = FileManager.default.createFile(atPath: dir + "/0.log", contents: nil)
            }
            if generation == 1 {
                // A follower killed in the middle, started again from its cursor file.
                #expect(resumed.waitFor { $0.count >= 200 }, "\(resumed.errors)")
                resumed.kill9()
            }
        }
        // web-1's container restarts: a new log file (1.log) and a new link beside the old.
        let restarted = try node.makeContainer(pod: "web-1", restart: 1)
        write("web-1", restarted + "/1.log", 100)
        write("api-1", api + "/0.log", 100)
        resumed = try FollowerProcess(followArguments(node, logs + ["--cursor-file", cursorFile]), out: node.dir.path("resumed.out"), append: true)

        let total = next.values.reduce(0, +)
        #expect(node.waitUntil(60) { node.number("SELECT count(*) FROM kubernetes_pod_logs WHERE namespace = 'shop'") == total }, "\(node.agent?.log ?? "")")
        for follower in [whole, resumed] {
            #expect(follower.waitFor(30) { $0.count >= total }, "\(follower.errors)")
            Thread.sleep(forTimeInterval: 0.5)
            let seen = numbers(follower.lines)
            #expect(follower.lines.count == total, "\(follower.errors)")
            for (pod, count) in next {
                // Once each, in the order written, across both rotations and the restart.
                #expect(seen["shop/\(pod)/app"] == Array(0..<count), "\(pod)")
            }
            follower.stop()
        }
    }

    @Test func aStalledFollowerIsCutWhileIngestGoesOnAndResumesWithNoGapOrRepeat() throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator(["--follower-stall-timeout", "2"])
        try node.startAgent()
        let audit = node.auditDir + "/audit.log"
        let follower = try FollowerProcess(followArguments(node, ["tail", "kubernetes_audit_logs", "-o", "jsonl"]), out: node.dir.path("tail.out"))
        // Connected once the first row comes through.
        LineWriter.append(audit, [LineWriter.auditEvent(0)])
        #expect(follower.waitFor { $0.count == 1 }, "\(follower.errors)")
        follower.signal(SIGSTOP)
        // ~70 MB of rows, over 20 MB as the zstd the follower asks for (each row's random digits do
        // not compress): far more than the socket buffers and the follower's queue hold.
        let total = 20_001
        for chunk in stride(from: 1, to: total, by: 2000) {
            LineWriter.append(audit, (chunk..<min(total, chunk + 2000)).map { LineWriter.auditEvent($0, padding: 2000) })
        }
        // Ingest is not held up by the follower that reads nothing.
        #expect(node.waitUntil(90) { node.number("SELECT count(*) FROM kubernetes_audit_logs") == total }, "\(node.agent?.log ?? "")")
        let metrics = { try Curl.request("http://127.0.0.1:\(node.port)/metrics", method: "GET").body }
        #expect(node.waitUntil(30) { ((try? metrics()) ?? "").contains("kubetrail_tail_followers_cut_total 1") })
        follower.signal(SIGCONT)
        // What was in flight, the error line, then a resume from the last cursor it was sent.
        #expect(follower.waitFor(60) { $0.count >= total }, "\(follower.errors)")
        Thread.sleep(forTimeInterval: 1)
        let ids = follower.lines.compactMap { line in ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["audit_id"] as? String }
        #expect(ids.count == total && Set(ids).count == total)
        #expect(follower.errors.contains("took nothing for 2 s"), "\(follower.errors)")
        follower.stop()
    }
}
