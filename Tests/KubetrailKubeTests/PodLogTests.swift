import Foundation
import Testing
import TestSupport
import KubetrailCollect
import KubetrailCore
import KubetrailStore
import KubetrailTables
@testable import KubetrailKube

/// Pod logs through the API: the fake server checked against kubectl, the request spelled as
/// kubectl spells it, and streams followed across container restarts without loss or repeats.
@Suite struct PodLogTests {
    static let kubectl = URL(fileURLWithPath: "/usr/bin/kubectl")

    func kubectl(_ dir: TemporaryDirectory, _ config: String, _ args: [String]) throws -> ProcessResult {
        try Subprocess.run(
            Self.kubectl, ["--kubeconfig", config, "--request-timeout", "10s"] + args,
            environment: ["HOME": dir.path("kubectl-home")])
    }

    func client(_ cluster: FakeCluster) -> KubeClient {
        KubeClient(connection: ClusterConnection(server: cluster.url, namespace: "default", contextName: nil))
    }

    @Test func kubectlReadsTheFakeServersPodsEventsAndLogs() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        let pods = try JSONSerialization.jsonObject(with: Fixtures.data("k8s-api/javaclient_pod-list.json")) as! [String: Any]
        for pod in pods["items"] as! [[String: Any]] { try cluster.addPod(pod) }
        let events = try JSONSerialization.jsonObject(with: Fixtures.data("k8s-api/ddagent_core_v1_EventList_gke_2017_1.json")) as! [String: Any]
        for (i, event) in (events["items"] as! [[String: Any]]).enumerated() { try cluster.addEvent(event, file: "e\(i)") }
        try cluster.appendLog(
            namespace: "mssql", pod: "mssql-75b8b44f6b-znftp", container: "mssql",
            ["2026-11-27T10:00:00.000000001Z SQL Server is starting.", "2026-11-27T10:00:01.250000000Z Recovery is complete."])
        let config = try cluster.writeKubeconfig(dir.path("kubeconfig"))

        let get = try kubectl(dir, config, ["get", "pods", "-A"])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(get.stdout.contains("mssql       mssql-75b8b44f6b-znftp   Running"), "\(get.stdout)")
        let ev = try kubectl(dir, config, ["get", "events", "-A"])
        #expect(ev.status == 0, "\(ev.stderr)")
        #expect(ev.stdout.split(separator: "\n").count == 4 && ev.stdout.contains("frontend-hello.14b2c5c0ac899bef"), "\(ev.stdout)")
        let logs = try kubectl(dir, config, ["logs", "-n", "mssql", "mssql-75b8b44f6b-znftp"])
        #expect(logs.stdout == "SQL Server is starting.\nRecovery is complete.\n", "\(logs.stderr)")

        // The same request from kubectl and from us, byte for byte; and the same answer.
        cluster.stopContainer(namespace: "mssql", pod: "mssql-75b8b44f6b-znftp", container: "mssql")
        let since = try #require(Timestamp(rfc3339: "2026-11-27T10:00:01.9Z"))
        let followed = try Subprocess.run(
            Self.kubectl,
            [
                "--kubeconfig", config, "logs", "-f", "--timestamps", "--since-time=2026-11-27T10:00:01Z", "-c", "mssql",
                "-n", "mssql", "mssql-75b8b44f6b-znftp"
            ], environment: ["HOME": dir.path("kubectl-home")])
        #expect(followed.stdout == "2026-11-27T10:00:01.250000000Z Recovery is complete.\n")
        let theirs = try #require(cluster.requestPaths.last)
        var options = PodLogOptions(container: "mssql", follow: true, timestamps: true, sinceTime: since)
        #expect(options.path(namespace: "mssql", pod: "mssql-75b8b44f6b-znftp") == theirs)
        options.follow = false
        var ours: [String] = []
        let status = try client(cluster).stream(options.path(namespace: "mssql", pod: "mssql-75b8b44f6b-znftp")) { line in
            ours.append(String(decoding: line, as: UTF8.self)); return true
        }
        #expect(status == 200)
        #expect(ours == ["2026-11-27T10:00:01.250000000Z Recovery is complete."])
    }

    @Test func aSequenceDropsWhatAResumedRequestRepeatsAndNothingElse() throws {
        let t = { (s: String) in Timestamp(rfc3339: "2026-11-27T\(s)Z")! }
        func f(_ s: String) -> UInt64 { Array(s.utf8).withUnsafeBytes { LogCursor.fingerprint($0) } }
        var seq = LogSequence(cursor: nil)
        seq.beginRequest(containerID: "c1", start: nil)
        #expect(seq.accept(t("10:00:00.1"), fingerprint: f("a")) == .new(1))
        #expect(seq.accept(t("10:00:00.2"), fingerprint: f("b")) == .new(1))
        #expect(seq.accept(t("10:00:00.2"), fingerprint: f("c")) == .new(2))  // same instant: the ordinal tells them apart
        #expect(seq.accept(t("09:59:59.9"), fingerprint: f("d")) == .new(1))  // stamped earlier (stderr vs stdout)
        #expect(seq.accept(t("10:00:07.5"), fingerprint: f("e")) == .new(1))
        // The cursor stays five seconds behind the newest line: 10:00:02, where only e is.
        #expect(seq.cursor == LogCursor(second: t("10:00:02"), taken: 1, fingerprint: f("e"), containerID: "c1"))
        // Resumed there: e repeats, then new lines.
        var resumed = LogSequence(cursor: LogCursor(seq.cursor!.description))
        resumed.beginRequest(containerID: "c1", start: nil)
        #expect(resumed.accept(t("10:00:07.5"), fingerprint: f("e")) == .repeated)
        #expect(resumed.accept(t("10:00:08"), fingerprint: f("g")) == .new(1))
        // A reply whose repeated line is another one: not the log read before.
        var other = LogSequence(cursor: seq.cursor)
        other.beginRequest(containerID: "c1", start: nil)
        #expect(other.accept(t("10:00:07.5"), fingerprint: f("x")) == .mismatch)
        // Another instance of the container: nothing of its log was taken.
        seq.beginRequest(containerID: "c2", start: nil)
        #expect(seq.cursor == LogCursor(second: t("10:00:02"), taken: 0, containerID: "c2"))
        #expect(LogCursor("garbage") == nil && LogCursor("12 0 -") == nil && LogCursor("1000000 -1 -") == nil && LogCursor("1000000 1 zz") == nil)
        #expect(LogCursor("1000000 3 ff c") == LogCursor(second: Timestamp(seconds: 1), taken: 3, fingerprint: 255, containerID: "c"))
    }

    /// A model of the API against the cursor: a log that grows with lines stamped up to two
    /// seconds out of order, read by requests interrupted at random points, each by a new
    /// process that knows only the saved cursor. Every line must be taken once, under one name.
    @Test func randomInterruptionsLoseAndRepeatNothing() throws {
        for seed in 1...300 {
            var random = SplitMix64(seed: UInt64(seed))
            var log: [(t: Timestamp, text: String)] = []
            var clock: Int64 = 1_800_000_000_000_000
            var taken: [String] = []
            var names = Set<String>()
            var saved: String?
            func grow(_ n: Int) {
                for _ in 0..<n {
                    clock += Int64(random.next() % 400_000)
                    let skew = random.next() % 4 == 0 ? Int64(random.next() % 2_000_000) : 0  // stderr stamped earlier
                    log.append((Timestamp(microseconds: clock - skew), "line \(log.count)"))
                }
            }
            grow(Int(random.next() % 40) + 5)
            var rounds = 0
            while true {
                rounds += 1
                var seq = LogSequence(cursor: saved.flatMap(LogCursor.init))
                seq.beginRequest(containerID: "c", start: nil)
                let from = seq.cursor?.second ?? Timestamp(microseconds: .min)
                let reply = log.filter { $0.t >= from }
                let stopAt = random.next() % 3 == 0 ? reply.count : Int(random.next() % UInt64(reply.count + 1))
                for line in reply.prefix(stopAt) {
                    let fp = Array("\(line.t.microseconds) \(line.text)".utf8).withUnsafeBytes { LogCursor.fingerprint($0) }
                    switch seq.accept(line.t, fingerprint: fp) {
                    case .new(let ordinal):
                        taken.append(line.text)
                        names.insert("\(line.t.microseconds)#\(ordinal)")
                    case .repeated: break
                    case .mismatch: Issue.record("seed \(seed): mismatch on an unchanged log")
                    }
                }
                if let c = seq.cursor { saved = c.description }
                if stopAt == reply.count && rounds > 3 { break }
                grow(Int(random.next() % 10))
            }
            #expect(taken.sorted() == log.map(\.text).sorted(), "seed \(seed): \(taken.count) taken of \(log.count)")
            #expect(names.count == taken.count, "seed \(seed): two lines under one name")
        }
    }

    @Test func aFollowedStreamSurvivesRestartsAndAWaitingContainerWithoutRepeats() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        try cluster.addPod(namespace: "shop", name: "web", uid: "uid-web", containers: ["app"])
        try cluster.appendLog(
            namespace: "shop", pod: "web", container: "app",
            ["2026-11-27T10:00:00.100000000Z one", "2026-11-27T10:00:00.200000000Z two", "2026-11-27T10:00:00.200000000Z two-again"])
        let follower = PodLogFollower(client: client(cluster), namespace: "shop", pod: "web", uid: "uid-web", container: "app", cursor: nil, follow: true)
        follower.retryDelay = 0.1
        var lines: [String] = []
        var restarts: [Int64] = []
        var step = 0
        let end = try follower.run { event in
            switch event {
            case .pod(let object):
                restarts.append(PodInfo(object)?.statuses["app"]?.restartCount ?? -1)
            case .line(_, let ordinal, let instance, let message):
                lines.append("\(String(decoding: message, as: UTF8.self))#\(ordinal)@\(instance ?? "?")")
            case .tick:
                // Drive the container's life from the reader's pauses.
                if step == 0 && lines.count == 3 {
                    // The instance ends; its successor is created but not running yet.
                    step = 1
                    try cluster.restartContainer(namespace: "shop", pod: "web", container: "app")
                    cluster.stopContainer(namespace: "shop", pod: "web", container: "app")
                } else if step == 1 && follower.requests >= 3 {
                    // (the old instance's end read again, the new one waiting) — now it runs,
                    // with a line in the second the reader stopped in.
                    step = 2
                    cluster.startContainer(namespace: "shop", pod: "web", container: "app")
                    try cluster.appendLog(
                        namespace: "shop", pod: "web", container: "app",
                        ["2026-11-27T10:00:00.200000000Z three", "2026-11-27T10:00:05.000000000Z four"])
                } else if step == 2 && lines.count == 5 {
                    step = 3
                    cluster.removePod(namespace: "shop", name: "web")
                    cluster.stopContainer(namespace: "shop", pod: "web", container: "app")
                }
            }
            return true
        }
        #expect(end == .podGone)
        #expect(
            lines == [
                "one#1@containerd://app-0", "two#1@containerd://app-0", "two-again#2@containerd://app-0",
                "three#1@containerd://app-1", "four#1@containerd://app-1"
            ])
        #expect(restarts.first == 0 && restarts.last == 1)
        let logRequests = cluster.requestPaths.filter { $0.contains("/log?") }
        // Resumed five seconds before the newest line read, to catch lines stamped out of order.
        #expect(logRequests.contains { $0.contains("previous=true&sinceTime=2026-11-27T09%3A59%3A55Z") })
        #expect(logRequests.dropFirst().allSatisfy { $0.contains("sinceTime=2026-11-27T") })
    }

    @Test func aPodRecreatedUnderTheSameNameIsAnotherPod() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        try cluster.addPod(namespace: "db", name: "pg-0", uid: "uid-old", containers: ["pg"])
        try cluster.appendLog(namespace: "db", pod: "pg-0", container: "pg", ["2026-11-27T10:00:00.000000000Z ready"])
        let follower = PodLogFollower(client: client(cluster), namespace: "db", pod: "pg-0", uid: "uid-old", container: "pg", cursor: nil, follow: true)
        follower.retryDelay = 0.1
        var lines = 0
        let end = try follower.run { event in
            if case .line = event {
                lines += 1
                // The StatefulSet replaces the pod: same name, new uid.
                try cluster.addPod(namespace: "db", name: "pg-0", uid: "uid-new", containers: ["pg"])
                cluster.stopContainer(namespace: "db", pod: "pg-0", container: "pg")
            }
            return true
        }
        #expect(end == .podGone && lines == 1)
    }

    @Test func aFailedPodIsNotPolledForeverAndABadContainerIsAnError() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        try cluster.addPod(namespace: "ci", name: "job-x", uid: "uid-job", containers: ["run"], phase: "Failed")
        cluster.holdContainer(namespace: "ci", pod: "job-x", container: "run")  // never started: image pull failed
        let follower = PodLogFollower(client: client(cluster), namespace: "ci", pod: "job-x", container: "run", cursor: nil, follow: true)
        #expect(try follower.run { _ in true } == .podCompleted)
        #expect(follower.requests == 1)
        let once = PodLogFollower(client: client(cluster), namespace: "ci", pod: "job-x", container: "nope", cursor: nil, follow: false)
        #expect {
            try once.run { _ in true }
        } throws: { error in
            "\(error)".contains("logs of ci/job-x/nope: HTTP 400: container nope is not valid for pod job-x")
        }
    }

    @Test func aRestartBetweenTwoCollectionsLosesNothing() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        try cluster.addPod(namespace: "shop", name: "web", uid: "uid-web", containers: ["app"])
        try cluster.appendLog(namespace: "shop", pod: "web", container: "app", ["2026-11-27T10:00:00.000000000Z a", "2026-11-27T10:00:01.000000000Z b"])
        let store = try SQLiteStore(path: dir.path("kt.db"))
        func collect() throws -> PodLogCollection.Summary {
            try PodLogCollection(
                client: client(cluster), store: store, context: IngestContext(sourceType: .podLogAPI),
                table: .podLogs, selections: [.allPods(namespaces: ["shop"])], follow: false, cursorScope: "c"
            ).run()
        }
        #expect(try collect().stored == 2)
        // After the first collection the instance writes one more line, crashes and restarts.
        try cluster.appendLog(namespace: "shop", pod: "web", container: "app", ["2026-11-27T10:00:01.000000000Z c, its last words"])
        try cluster.restartContainer(namespace: "shop", pod: "web", container: "app")
        cluster.startContainer(namespace: "shop", pod: "web", container: "app")
        try cluster.appendLog(namespace: "shop", pod: "web", container: "app", ["2026-11-27T10:00:01.000000000Z d, starting again"])
        let second = try collect()
        #expect(second.stored == 2 && second.duplicates == 0 && second.failures.isEmpty)
        let rows = MemorySink()
        try store.query("SELECT log_message, container_id, restart_count FROM kubernetes_pod_logs ORDER BY timestamp, log_message", into: rows)
        #expect(rows.rows == [["a", "app-0", "0"], ["b", "app-0", "0"], ["c, its last words", "app-0", "0"], ["d, starting again", "app-1", "1"]])
    }

    @Test func podLogsAreCollectedOnceAndARerunReadsOnlyWhatIsNew() throws {
        let dir = try TemporaryDirectory()
        let cluster = try FakeCluster(dir: dir)
        defer { cluster.stop() }
        try cluster.addPod(namespace: "shop", name: "web", uid: "uid-web", containers: ["app", "proxy"], labels: ["app": "web"], restartCount: 2)
        try cluster.addPod(namespace: "other", name: "batch", uid: "uid-batch", containers: ["job"])
        try cluster.appendLog(
            namespace: "shop", pod: "web", container: "app",
            [
                "2026-11-27T10:00:00.100000000Z {\"level\":\"error\",\"msg\":\"db down\"}",
                "2026-11-27T10:00:01.000000000Z I1127 10:00:01.000000 1 main.go:10] ready"
            ])
        try cluster.appendLog(namespace: "shop", pod: "web", container: "proxy", ["2026-11-27T10:00:02.000000000Z [warn] slow upstream"])
        try cluster.appendLog(namespace: "other", pod: "batch", container: "job", ["2026-11-27T10:00:03.000000000Z not selected"])
        let store = try SQLiteStore(path: dir.path("kt.db"))
        func collect() throws -> PodLogCollection.Summary {
            try PodLogCollection(
                client: client(cluster), store: store, context: IngestContext(clusterName: "lab", sourceType: .podLogAPI),
                table: .podLogs, selections: [.allPods(namespaces: ["shop"])], follow: false, cursorScope: "lab"
            ).run()
        }
        let first = try collect()
        #expect(first.stored == 3 && first.duplicates == 0 && first.streams == 2 && first.failures.isEmpty)
        let rows = MemorySink()
        try store.query(
            """
            SELECT container_name, log_level, container_id, restart_count, labels, tp_source_type, node_name, pod_uid, log_message
            FROM kubernetes_pod_logs ORDER BY timestamp
            """, into: rows)
        #expect(
            rows.rows.map { $0.prefix(8).joined(separator: "|") } == [
                "app|ERROR|app-2|2|{\"app\":\"web\"}|pod_log_api|node-a|uid-web",
                "app|INFO|app-2|2|{\"app\":\"web\"}|pod_log_api|node-a|uid-web",
                "proxy|WARN|proxy-2|2|{\"app\":\"web\"}|pod_log_api|node-a|uid-web"
            ])
        // Again: nothing new, and nothing read twice (the cursor starts each request).
        let second = try collect()
        #expect(second.stored == 0 && second.duplicates == 0)
        try cluster.appendLog(namespace: "shop", pod: "web", container: "app", ["2026-11-27T10:00:01.000000000Z second line, same second"])
        let third = try collect()
        #expect(third.stored == 1 && third.duplicates == 0)
        #expect(cluster.requestPaths.last { $0.contains("container=app&") }?.contains("sinceTime=2026-11-27T09%3A59%3A56Z") == true)
    }
}
