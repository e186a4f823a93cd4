import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailCurl

/// One ingest run: aggregator processes on one store, and client threads sending every batch
/// once, each client to one aggregator.
struct IngestPhase {
    let elapsed: Double
    /// CPU seconds of all the aggregators while the batches were sent.
    let cpu: Double
    /// Each batch's time from sent to acknowledged, sorted.
    let latencies: [Double]
    /// The first aggregator's `/metrics` after the last batch.
    let metrics: String
    let peakRSSKiB: Int

    func metric(_ name: String) -> Double {
        metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// `beforeSending` runs once the aggregators listen (given their ports) and returns what to
    /// run after the last batch: followers attached for the phase, say.
    static func run(
        binary: String, database: String, aggregators: Int, arguments: [String], token: String,
        bodies: [[UInt8]], clients: Int, beforeSending: ([Int]) throws -> () -> Void = { _ in {} }
    ) throws -> IngestPhase {
        var servers: [(process: Process, port: Int)] = []
        defer { for s in servers { s.process.terminate(); s.process.waitUntilExit() } }
        for _ in 0..<aggregators {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: binary)
            server.arguments = ["aggregator", "--listen", "127.0.0.1:0", "--db", database] + arguments
            let out = Pipe()
            server.standardOutput = out
            server.standardError = FileHandle.nullDevice
            try server.run()
            servers.append((server, 0))
            var seen = ""
            while servers[servers.count - 1].port == 0 {
                let data = out.fileHandleForReading.availableData
                if data.isEmpty { throw ValidationError("aggregator exited") }
                seen += String(decoding: data, as: UTF8.self)
                if let r = seen.range(of: "listening on http://127.0.0.1:") {
                    servers[servers.count - 1].port = Int(seen[r.upperBound...].prefix(while: \.isNumber)) ?? 0
                }
            }
        }
        let afterSending = try beforeSending(servers.map(\.port))
        defer { afterSending() }
        let cpuBefore = servers.map { processCPUSeconds($0.process.processIdentifier) }.reduce(0, +)

        // Each client is a thread with the agent's own HTTP client (libcurl, kept alive): URLSession
        // on Linux polls so busily that 8 of its uploads took 40 % of the 2 cores from the stores.
        let urls = servers.map { "http://127.0.0.1:\($0.port)/v1/ingest" }
        let queue = BatchQueue(count: bodies.count)
        let results = ClientResults()
        let started = Date()
        let finished = DispatchGroup()
        for client in 0..<clients {
            let url = urls[client % urls.count]
            finished.enter()
            Thread {
                defer { finished.leave() }
                do {
                    let http = try CurlHTTPClient()
                    let headers = [("Authorization", "Bearer \(token)"), ("Content-Encoding", "deflate"), ("Content-Type", "application/octet-stream")]
                    while let i = queue.next() {
                        let t0 = Date()
                        let reply = try http.post(url, body: bodies[i], headers: headers)
                        guard reply.status == 200 else { throw ValidationError("batch \(i) got \(reply.status): \(reply.text)") }
                        results.add(latency: Date().timeIntervalSince(t0))
                    }
                } catch {
                    results.fail(error)
                }
            }.start()
        }
        finished.wait()
        if let error = results.error { throw error }
        let elapsed = Date().timeIntervalSince(started)
        let cpu = servers.map { processCPUSeconds($0.process.processIdentifier) }.reduce(0, +) - cpuBefore
        let metricsBytes = ByteSink()
        _ = try? CurlHTTPClient().stream("http://127.0.0.1:\(servers[0].port)/metrics", headers: []) {
            metricsBytes.append($0); return true
        }
        return IngestPhase(
            elapsed: elapsed, cpu: cpu, latencies: results.latencies.sorted(),
            metrics: String(decoding: metricsBytes.bytes, as: UTF8.self), peakRSSKiB: kubetrail_bench.peakRSSKiB(servers[0].process.processIdentifier))
    }
}
