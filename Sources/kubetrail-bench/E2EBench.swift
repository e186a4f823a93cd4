import ArgumentParser
import Foundation

/// `kubetrail-bench e2e`: the whole pipeline under stress, checked line by line. Two (or more)
/// simulated nodes, each with a real agent, write audit events and container logs with rename
/// rotation (and deletion of rotated files) and a second audit log rotated by copy-truncate, while agents and the aggregator are
/// killed with SIGKILL at random moments, the aggregator is away for a long outage, and (where
/// a tmpfs can be mounted) its disk fills up. At the end everything written is compared with
/// everything stored.
struct E2EBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e",
        abstract: "End-to-end loss/duplicate harness: writers, agents, aggregator, kills, outage, full disk; one summary line.")

    @Option(help: "Seconds of writing.") var duration = 120.0
    @Option(help: "Simulated nodes, each with its own agent.") var nodes = 2
    @Option(help: "Lines per second of each kind (audit, container, copy-truncated audit) per node.") var rate = 100
    @Option(help: "SIGKILLs of agents.") var agentKills = 20
    @Option(help: "SIGKILLs of the aggregator.") var aggregatorKills = 20
    @Option(help: "Seconds of aggregator outage.") var outage = 30.0
    @Option(help: "Rotate each file past this many bytes.") var rotateBytes = 256 * 1024
    @Flag(help: "Skip the full-disk episode.") var noFullDisk = false
    @Flag(help: "Keep the run's directory (logs, state, database) instead of removing it at the end.") var keepFiles = false
    @Option(help: "How often the aggregator signs a digest of the audit chain; `kubetrail verify` checks the chain at the end.")
    var digestInterval = "10s"
    @Option(help: "A kubeconfig: the aggregator also polls that API server for events and resources.") var apiKubeconfig: String?
    @Option(help: "Copy the aggregator's database here at the end.") var keepDb: String?
    @Option(help: "The kubetrail binary (default: next to this one).") var kubetrail: String?
    @Option(help: "The kubetrail-agent binary (default: next to this one).") var kubetrailAgent: String?
    @Flag(
        help:
            "The PostgreSQL round: a PostgreSQL 15 of the run's own, two aggregators on it (each node's agent sends to one), aggregator kills spread over both, and PostgreSQL itself crashed and restarted."
    )
    var postgres = false
    @Option(help: "Crashes of PostgreSQL (with --postgres).") var postgresKills = 2

    func run() throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let kubetrail = self.kubetrail ?? bin.appendingPathComponent("kubetrail").path
        let agentBinary = kubetrailAgent ?? bin.appendingPathComponent("kubetrail-agent").path
        let work = NSTemporaryDirectory() + "kubetrail-e2e-\(getpid())"
        let data = work + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var mounted = false
        if !noFullDisk && !postgres {
            // Room for everything the run writes (two audit series at ~2 KB a row, container lines
            // at ~0.5 KB) and half as much again: only the episode may fill it, not the data.
            let megabytes = max(512, Int(Double(rate * nodes) * duration * 4.5 * 1.5 / 1024))
            mounted = e2eShell("mount -t tmpfs -o size=\(megabytes)m kubetrail-e2e \(data)") == 0
        }
        defer {
            if mounted { _ = e2eShell("umount \(data)") }
            if keepFiles { print("the run's files are kept in \(work)") } else { try? FileManager.default.removeItem(atPath: work) }
        }
        let token = "e2e-\(UUID().uuidString)"
        try (token + "\n").write(toFile: work + "/ingest.tokens", atomically: true, encoding: .utf8)
        try (token + "\n").write(toFile: work + "/agent.token", atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        let server = postgres ? try E2EPostgres(dir: work + "/postgres") : nil
        defer { server?.stop() }
        let db = server?.url ?? data + "/agg.db"
        // The digest key and its copies live off the data volume, as in a deployment.
        let digestKey = work + "/audit-digest.key", digestCopies = work + "/digests"
        guard e2eRun(kubetrail, ["keygen", "--out", digestKey]).status == 0 else { throw E2EError("kubetrail keygen failed") }
        var configArguments: [String] = ["--digest-signing-key", digestKey, "--digest-interval", digestInterval, "--digest-directory", digestCopies]
        if let apiKubeconfig {
            try """
            connection "kubernetes" {
              kubeconfig_path = "\(apiKubeconfig)"
              cluster_name    = "e2e"
            }
            """.write(toFile: work + "/aggregator.tpc", atomically: true, encoding: .utf8)
            configArguments += ["--config", work + "/aggregator.tpc"]
        }
        let aggregator = ManagedProcess(name: "aggregator", executable: kubetrail, logPath: work + "/aggregator.log") {
            ["aggregator", "--listen", "127.0.0.1:\(port)", "--db", db, "--ingest-token-file", work + "/ingest.tokens", "--page-cache-mib", "16"]
                + configArguments
        }
        try aggregator.start()
        try waitForHealth(port: port)
        // On PostgreSQL a second aggregator shares the database: odd nodes send to it.
        let port2 = postgres ? try freeLoopbackPort() : port
        let aggregator2 = ManagedProcess(name: "aggregator-2", executable: kubetrail, logPath: work + "/aggregator-2.log") {
            ["aggregator", "--listen", "127.0.0.1:\(port2)", "--db", db, "--ingest-token-file", work + "/ingest.tokens"] + configArguments
        }
        if postgres {
            try aggregator2.start()
            try waitForHealth(port: port2)
        }
        let aggregators = postgres ? [aggregator, aggregator2] : [aggregator]

        var simulated: [E2ENode] = []
        var agents: [ManagedProcess] = []
        for i in 0..<nodes {
            let node = try E2ENode(index: i, root: work + "/node-\(i)", keepRotated: outage + 30)
            simulated.append(node)
            let agent = ManagedProcess(name: "agent-\(i)", executable: agentBinary, logPath: work + "/agent-\(i).log") {
                [
                    "--aggregator", "http://127.0.0.1:\(i % 2 == 1 ? port2 : port)", "--token-file", work + "/agent.token", "--state-dir", node.stateDir,
                    "--audit-path", node.auditDir + "/*.log", "--containers-dir", node.containersDir, "--pods-dir", node.podsDir, "--node-name", "node-\(i)",
                    "--cluster-name", "e2e", "--batch-wait", "200ms", "--rescan-interval", "1s", "--rotated-idle", "2s",
                    "--backoff", "100ms,2s", "--shutdown-timeout", "5s", "--metrics-listen", "off"
                ]
            }
            try agent.start()
            agents.append(agent)
        }
        if postgres { print("e2e on PostgreSQL: 2 aggregators on one database, \(postgresKills) PostgreSQL crashes") }
        print(
            "e2e: \(nodes) nodes × \(rate) lines/s each of audit events, container lines and copy-truncated audit events for \(Int(duration)) s; "
                + "\(agentKills) agent and \(aggregatorKills) aggregator SIGKILLs, " + (outage > 0 ? "a \(Int(outage)) s outage, " : "no outage, ")
                + (mounted
                    ? "a full disk"
                    : noFullDisk
                        ? "no full-disk episode (--no-full-disk)"
                        : postgres ? "no full-disk episode (not with PostgreSQL)" : "no full-disk episode (cannot mount a tmpfs here)"))
        let writing = DispatchGroup()
        for node in simulated {
            writing.enter()
            Thread {
                node.run(perSecond: rate, rotateBytes: rotateBytes); writing.leave()
            }.start()
        }

        // The chaos: kills spread over the run, around an outage and a full-disk episode.
        var random = SystemRandomNumberGenerator()
        let started = Date()
        let outageAt = duration * 0.35, fullDiskAt = duration * 0.75, fullDiskFor = 8.0
        var kills: [(at: Double, agent: Bool)] = []
        let total = agentKills + aggregatorKills
        let busy = (outage > 0 ? [outageAt...(outageAt + outage + 2)] : []) + (mounted ? [fullDiskAt...(fullDiskAt + fullDiskFor + 2)] : [])
        let free = duration - (outage > 0 ? outage + 2 : 0) - (mounted ? fullDiskFor + 2 : 0)
        var t = 1.0
        var agentsLeft = agentKills, aggregatorLeft = aggregatorKills
        for k in 0..<total {
            t += free / Double(total + 1)
            var at = t
            for window in busy where at >= window.lowerBound { at += window.upperBound - window.lowerBound }
            let agent = (k % 2 == 0 && agentsLeft > 0) || aggregatorLeft == 0
            if agent { agentsLeft -= 1 } else { aggregatorLeft -= 1 }
            kills.append((at, agent))
        }
        var agentKilled = 0, aggregatorKilled = 0, outageDone = outage <= 0, fullDiskDone = !mounted
        // PostgreSQL's crashes, spread over the run away from the outage.
        var postgresCrashes: [Double] = postgres ? (1...max(1, postgresKills)).map { duration * (0.15 + 0.7 * Double($0) / Double(postgresKills + 1)) } : []
        if postgres && postgresKills == 0 { postgresCrashes = [] }
        var postgresKilled = 0, aggregatorTurn = 0
        func elapsed() -> Double { Date().timeIntervalSince(started) }
        while elapsed() < duration || !kills.isEmpty || !outageDone || !fullDiskDone || !postgresCrashes.isEmpty {
            if let server, let at = postgresCrashes.first, elapsed() >= at, outageDone || elapsed() < outageAt {
                postgresCrashes.removeFirst()
                if server.crash() { postgresKilled += 1 }
                Thread.sleep(forTimeInterval: Double.random(in: 1...3, using: &random))
                try server.start()
                continue
            }
            if !outageDone && elapsed() >= outageAt {
                if !aggregator.crash() { throw E2EError("the aggregator was not running when the outage began: see \(work)/aggregator.log") }
                Thread.sleep(forTimeInterval: outage)
                try aggregator.start()
                outageDone = true
                continue
            }
            if !fullDiskDone && elapsed() >= fullDiskAt {
                let filler = data + "/filler"
                fillDisk(filler)
                Thread.sleep(forTimeInterval: fullDiskFor)
                try? FileManager.default.removeItem(atPath: filler)
                fullDiskDone = true
                continue
            }
            if let next = kills.first, elapsed() >= next.at {
                kills.removeFirst()
                // Only a kill of a running process counts: one that had died on its own would be
                // a failure of the run, not chaos.
                if next.agent {
                    let agent = agents[Int.random(in: 0..<agents.count, using: &random)]
                    if agent.crash() { agentKilled += 1 }
                    Thread.sleep(forTimeInterval: Double.random(in: 0.1...1.0, using: &random))
                    try agent.start()
                } else {
                    // Taken in turn, so each aggregator is killed as often as the other.
                    let victim = aggregators[aggregatorTurn % aggregators.count]
                    aggregatorTurn += 1
                    if victim.crash() { aggregatorKilled += 1 }
                    Thread.sleep(forTimeInterval: Double.random(in: 0.2...0.6, using: &random))
                    try victim.start()
                }
                continue
            }
            if elapsed() >= duration { simulated.forEach { $0.stop() } }
            Thread.sleep(forTimeInterval: 0.05)
        }
        simulated.forEach { $0.stop() }
        writing.wait()
        try waitForHealth(port: port)
        if postgres { try waitForHealth(port: port2) }

        // Drain: until each kind of the no-loss set is all stored, or nothing moves for a minute.
        let written = simulated.map(\.counts)
        let expected = written.reduce(0) { $0 + $1.audit + $1.renamed }
        let expectedAudit = written.reduce(0) { $0 + $1.audit }, expectedLines = written.reduce(0) { $0 + $1.renamed }
        var last = [-1, -1], still = Date()
        while true {
            let row =
                e2eQuery(
                    kubetrail, db: db,
                    "SELECT (SELECT count(*) FROM kubernetes_audit_logs WHERE audit_id NOT LIKE '%-legacy-%'), (SELECT count(*) FROM kubernetes_pod_logs WHERE log_message LIKE '%-web-%')"
                ).first ?? []
            let now = row.compactMap { Int($0) }
            if now.count == 2 && now[0] >= expectedAudit && now[1] >= expectedLines { break }
            if now != last { last = now; still = Date() }
            if Date().timeIntervalSince(still) > 60 { break }
            Thread.sleep(forTimeInterval: 1)
        }
        agents.forEach { $0.stop() }
        aggregators.forEach { $0.stop() }
        if let keepDb, server == nil {
            // A consistent copy: the stopped aggregator checkpointed its WAL.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: keepDb + suffix) }
            try FileManager.default.copyItem(atPath: db, toPath: keepDb)
            if FileManager.default.fileExists(atPath: db + "-wal") { try FileManager.default.copyItem(atPath: db + "-wal", toPath: keepDb + "-wal") }
        }

        // The chain the aggregator wrote through every kill, the outage and the full disk, against
        // its signed digests and their off-host copies.
        let verify = e2eRun(kubetrail, ["verify", "--db", db, "--public-key", digestKey + ".pub", "--digests", digestCopies])

        // Line by line: every id written against every id stored.
        var auditStored: [String: Int] = [:]
        for row in e2eQuery(kubetrail, db: db, "SELECT audit_id FROM kubernetes_audit_logs") { auditStored[row[0], default: 0] += 1 }
        var linesStored: [String: Int] = [:]
        for row in e2eQuery(kubetrail, db: db, "SELECT log_message FROM kubernetes_pod_logs") {
            let message = row.joined(separator: ",")
            if let r = message.range(of: "id=") { linesStored[String(message[r.upperBound...].prefix { $0 != "\"" && $0 != " " }), default: 0] += 1 }
        }
        // "duplicated" counts a written line stored under two row ids. A batch sent again is
        // stored once by design (its rows keep their ids), so re-sends are not duplicates here;
        // audit rows are unique by auditID and stage, so only container lines can show as two.
        var lost = 0, duplicated = 0, truncLost = 0, truncStored = 0
        for (i, w) in written.enumerated() {
            for n in stride(from: 1, through: w.audit, by: 1) where auditStored["e2e-n\(i)-\(n)", default: 0] == 0 { lost += 1 }
            for n in stride(from: 1, through: w.renamed, by: 1) {
                let c = linesStored["n\(i)-web-\(n)", default: 0]
                if c == 0 { lost += 1 } else { duplicated += c - 1 }
            }
            for n in stride(from: 1, through: w.truncated, by: 1) {
                if auditStored["e2e-n\(i)-legacy-\(n)", default: 0] == 0 { truncLost += 1 } else { truncStored += 1 }
            }
        }
        let unexpected = auditStored.keys.filter { !$0.hasPrefix("e2e-n") }.count + linesStored.keys.filter { !$0.contains("-web-") }.count
        let storedSet = expected - lost
        let rotations = written.reduce(0) { $0 + $1.rotations }
        let restarts = agentKilled + aggregatorKilled + 1
        let refusedCommits =
            ((try? String(contentsOfFile: work + "/aggregator.log", encoding: .utf8)) ?? "")
            .components(separatedBy: "commit failed").count - 1
        // Lines appended after the agent's last read and before the cut are in the copy; with
        // the copy kept as long as the other rotated files, none may be missing.
        let truncWritten = written.reduce(0) { $0 + $1.truncated }
        print(
            "copy-truncate audit log: written \(truncWritten), stored \(truncStored), lost \(truncLost) "
                + "(read on from logrotate's copies, docs/agent.md)")
        if unexpected > 0 { print("stored rows that were never written: \(unexpected)") }
        print(
            "kills: \(agentKilled) agents, \(aggregatorKilled) aggregator" + (postgres ? " (of 2), \(postgresKilled) PostgreSQL" : "")
                + "; outage \(Int(outage)) s; full disk: "
                + (mounted ? "\(refusedCommits) commits refused" : postgres ? "not with PostgreSQL" : "skipped"))
        print("written \(expected), stored \(storedSet), lost \(lost), duplicated \(duplicated), restarts \(restarts), rotations \(rotations)")
        let verifySummary = verify.output.split(separator: "\n").filter { $0.hasPrefix("cluster ") }.joined(separator: "; ")
        print("kubetrail verify: exit \(verify.status)" + (verifySummary.isEmpty ? "" : ": " + verifySummary))
        if verify.status != 0 { print(verify.output) }
        if agentKilled < agentKills || aggregatorKilled < aggregatorKills || postgresKilled < (postgres ? postgresKills : 0) {
            print("fewer kills than asked for: a process was not running when its turn came (see the logs)")
        }
        if lost > 0 || duplicated > 0 || unexpected > 0 || truncLost > 0 || verify.status != 0 || agentKilled < agentKills || aggregatorKilled < aggregatorKills
            || postgresKilled < (postgres ? postgresKills : 0)
        {
            if !keepFiles { print("the run's files in \(work) are removed on exit; rerun with the same options and --keep-files to investigate") }
            throw ExitCode(1)
        }
    }

    private func waitForHealth(port: Int) throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let data = try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/healthz")!), !data.isEmpty { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw E2EError("the aggregator did not come up on port \(port)")
    }

    /// Writes until the filesystem is full.
    private func fillDisk(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

}
