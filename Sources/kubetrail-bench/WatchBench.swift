import ArgumentParser
import Foundation
import KubetrailKube

/// `kubetrail-bench watch`: a real aggregator process polls the fake API server, which serves N
/// pods and N events: half of each in the list (pages of 500), the other half on the watch. Reported: the
/// objects stored per second and the aggregator's memory, next to the same run's baseline —
/// the same pages and streams fetched by the same HTTP client without decoding or storing.
struct WatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Objects per second from list+watch into the tables, and the aggregator's memory.")

    @Option(help: "Pods, and as many events: half listed, half watched.") var objects = 100_000
    @Option(help: "The fake API server script.") var fakeServer = "scripts/fake-kube-apiserver.py"
    @Option(help: "The kubetrail binary (default: next to this one).") var kubetrail: String?
    @Option(help: "The aggregator's --page-cache-mib (default: its own default).") var pageCacheMib: Int?

    func run() throws {
        let work = NSTemporaryDirectory() + "kubetrail-watch-\(getpid())"
        try FileManager.default.createDirectory(atPath: work + "/state", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let fake = Process()
        fake.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        let half = objects / 2
        fake.arguments = [fakeServer, "--state", work + "/state", "--bench", String(half)]
        let fakeOut = Pipe()
        fake.standardOutput = fakeOut
        fake.standardError = FileHandle.nullDevice
        try fake.run()
        defer { kill(fake.processIdentifier, SIGKILL); fake.waitUntilExit() }
        guard
            let port = Int(
                String(decoding: fakeOut.fileHandleForReading.availableData, as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw ValidationError("the fake API server did not start") }
        let server = "http://127.0.0.1:\(port)"
        print("fake API server: \(2 * half) pods and \(2 * half) events, half of each listed, half watched")

        // Baseline: fetch everything, decoding nothing — once to let the server build and encode
        // its objects, then timed.
        let client = KubeClient(connection: ClusterConnection(server: server, namespace: "default", contextName: nil))
        var fetchedBytes = 0
        func fetchAll() throws {
            for path in ["/api/v1/pods", "/api/v1/events"] {
                var next = ""
                repeat {
                    let reply = try client.get(path + "?limit=500&resourceVersion=0" + (next.isEmpty ? "" : "&continue=\(next)"))
                    fetchedBytes += reply.body.count
                    let text = reply.text
                    next =
                        text.range(of: "\"continue\":").map { String(text[$0.upperBound...].drop { $0 == " " || $0 == "\"" }.prefix(while: \.isNumber)) } ?? ""
                } while !next.isEmpty
                try client.stream(path + "?allowWatchBookmarks=true&resourceVersion=100&watch=true") { line in
                    fetchedBytes += line.count + 1
                    return !String(decoding: line.prefix(30), as: UTF8.self).contains("BOOKMARK")
                }
            }
        }
        try fetchAll()
        fetchedBytes = 0
        let fetch = try seconds { try fetchAll() }
        let baselineRate = Double(4 * half) / fetch
        print(
            String(format: "baseline  fetch only (no decoding, no storing): %.2f s, %.0f objects/s, %.0f MB", fetch, baselineRate, Double(fetchedBytes) / 1e6))

        // An idle aggregator's memory, then one that polls the fake server.
        let binary = kubetrail ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kubetrail").path
        try "watch-bench-token-\(UUID().uuidString)\n".write(toFile: work + "/tokens", atomically: true, encoding: .utf8)
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: fake, cluster: {server: "\(server)"}}]
        users: [{name: u, user: {}}]
        contexts: [{name: fake, context: {cluster: fake, user: u}}]
        current-context: fake
        """.write(toFile: work + "/kubeconfig", atomically: true, encoding: .utf8)
        try """
        connection "kubernetes" {
          kubeconfig_path = "\(work)/kubeconfig"
        }
        aggregator {
          ingest_token_file = "\(work)/tokens"
        }
        """.write(toFile: work + "/kubetrail.tpc", atomically: true, encoding: .utf8)
        let idle = try startAggregator(binary, ["--db", work + "/idle.db", "--ingest-token-file", work + "/tokens"])
        Thread.sleep(forTimeInterval: 2)
        let idleKiB = peakRSSKiB(idle.processIdentifier)
        idle.terminate()
        idle.waitUntilExit()

        let started = Date()
        let aggregator = try startAggregator(
            binary,
            ["--db", work + "/agg.db", "--config", work + "/kubetrail.tpc"]
                + (pageCacheMib.map { ["--page-cache-mib", String($0)] } ?? []))
        defer { aggregator.terminate(); aggregator.waitUntilExit() }
        let target = 2 * half
        var pods = 0, events = 0
        while pods < target || events < target {
            Thread.sleep(forTimeInterval: 0.25)
            (pods, events) = try counts(binary, work + "/agg.db")
            if Date().timeIntervalSince(started) > 1800 { throw ValidationError("not done after 30 minutes: \(pods) pods, \(events) events") }
        }
        let elapsed = Date().timeIntervalSince(started)
        let peakKiB = peakRSSKiB(aggregator.processIdentifier)
        let nowKiB = currentRSSKiB(aggregator.processIdentifier)
        let fileKiB = currentRSSKiB(aggregator.processIdentifier, field: "RssFile:")
        let cpu = processCPUSeconds(aggregator.processIdentifier)
        let rate = Double(4 * half) / elapsed
        print(
            String(
                format: "aggregator list+watch → tables: %.2f s, %.0f objects/s stored (%.0f%% of the baseline), CPU %.1f s",
                elapsed, rate, 100 * rate / baselineRate, cpu))
        print(
            String(
                format:
                    "aggregator memory: idle %.1f MiB, peak %.1f MiB, %.1f MiB once stored (%.1f MiB of it file pages), with %d live pods and %d events (peak growth %.1f MiB)",
                Double(idleKiB) / 1024, Double(peakKiB) / 1024, Double(nowKiB) / 1024, Double(fileKiB) / 1024, pods, events, Double(peakKiB - idleKiB) / 1024))
    }

    private func startAggregator(_ binary: String, _ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["aggregator", "--listen", "127.0.0.1:0"] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Rows stored so far, read as a user would (a separate read-only query process).
    private func counts(_ binary: String, _ db: String) throws -> (Int, Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = [
            "query", "--db", db, "--output", "csv",
            "SELECT (SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Pod'), (SELECT count(*) FROM kubernetes_events)"
        ]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let values = text.split(separator: "\n").dropFirst().first?.split(separator: ",").compactMap { Int($0) } ?? []
        return values.count == 2 ? (values[0], values[1]) : (0, 0)
    }
}

/// Resident memory of a process now, in KiB.
func currentRSSKiB(_ pid: Int32, field: String = "VmRSS:") -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field) {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return 0
}
