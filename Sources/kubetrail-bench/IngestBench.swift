import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KubetrailAggregator
import KubetrailCore
import KubetrailStore
import KubetrailTables

/// `kubetrail-bench ingest`: a real aggregator process, concurrent HTTP clients on loopback
/// sending pre-built deflated batches, and — as the baseline, in the same run — the store's
/// bare insert rate for the same rows.
struct IngestBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "Aggregator ingest throughput over HTTP.")

    @Option(help: "Concurrent clients.") var clients = 8
    @Option(help: "Audit batches (1,000 events each).") var auditBatches = 200
    @Option(help: "Container-log batches (5,000 lines each).") var logBatches = 100
    @Option(help: "The kubetrail binary (default: next to this one).") var kubetrail: String?
    @Option(
        help: ArgumentHelp(
            "A PostgreSQL server's URL (any database on it, password in the URL or PGPASSWORD): the bench makes a database of its own there, and drops it after. Default: SQLite.",
            valueName: "postgres://…"))
    var postgres: String?
    @Option(help: "Aggregators sharing the store (PostgreSQL only).") var aggregators = 1
    @Flag(help: "Run the aggregators with --no-detections (continuous detection off), to compare ingest with the rules and without.")
    var noDetections = false
    @Option(
        help: ArgumentHelp(
            "Instead of one run: this many pairs of runs with continuous detection on and off, alternating, each on a store of its own; prints the ratio of their rates by pair and its median.",
            valueName: "pairs"))
    var compareDetections = 0

    func run() throws {
        let work = NSTemporaryDirectory() + "kubetrail-ingest-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let token = UUID().uuidString
        try (token + "\n").write(toFile: work + "/tokens", atomically: true, encoding: .utf8)

        // Batches: realistic audit events and container log lines.
        var batches: [(body: [UInt8], rows: Int, inflated: Int)] = []
        var generator = AuditEventGenerator(seed: 3, start: Timestamp.now.adding(microseconds: -3_600_000_000), end: .now)
        var rawAudit: [[UInt8]] = []
        for b in 0..<auditBatches {
            let encoder = generator.batch(b, of: auditBatches) { if b < 20 { rawAudit.append($0) } }
            batches.append((try encoder.deflated(), 1000, encoder.encoded().count))
        }
        let messages = [
            "level=info msg=\"request served\" status=200 path=/api/v1/items duration=3ms",
            "E1127 10:00:00.000000       1 reflector.go:138] failed to watch *v1.Pod: connection refused",
            "{\"level\":\"warn\",\"ts\":1732700000.1,\"msg\":\"slow query\",\"table\":\"orders\",\"ms\":812}",
            "GET /healthz 200 0.4ms"
        ]
        for b in 0..<logBatches {
            var encoder = WireBatchEncoder(node: "node-\(b % 4)", cluster: "bench")
            let source = WireFormat.Source(kind: .containerLogLine, path: "/var/log/pods/shop_web-\(b)_uid-\(b)/app/0.log", identity: "dev:log:\(b)")
            var offset: UInt64 = 0
            for i in 0..<5000 {
                let line = Array(
                    "2026-11-27T10:\(String(format: "%02d:%02d", (i / 60) % 60, i % 60)).\(String(format: "%06d", i))Z stdout F \(messages[i % 4]) #\(i)".utf8)
                encoder.append(source, offset: offset, bytes: line)
                offset += UInt64(line.count + 1)
            }
            batches.append((try encoder.deflated(), 5000, encoder.encoded().count))
        }
        batches.shuffle()

        // The store: a SQLite file, or a database of the bench's own on the PostgreSQL server.
        let admin: PostgresConnection?
        let database: String
        var baselineDatabase: String?, copyDatabase: String?
        if let postgres {
            let c = try PostgresConnection(url: postgres)
            let name = "kubetrail_bench_\(getpid())"
            try c.execute("CREATE DATABASE \(name)")
            try c.execute("CREATE DATABASE \(name)_baseline")
            try c.execute("CREATE DATABASE \(name)_copy")
            admin = c
            database = Self.url(postgres, database: name)
            baselineDatabase = Self.url(postgres, database: name + "_baseline")
            copyDatabase = Self.url(postgres, database: name + "_copy")
        } else {
            guard aggregators == 1 else { throw ValidationError("--aggregators needs --postgres: one SQLite file has one writer") }
            admin = nil
            database = work + "/agg.db"
        }
        defer {
            if let admin {
                for suffix in ["", "_baseline", "_copy"] { _ = try? admin.execute("DROP DATABASE IF EXISTS kubetrail_bench_\(getpid())\(suffix) WITH (FORCE)") }
            }
        }

        // The aggregators, as separate processes; several share the PostgreSQL database and sign with one key.
        let binary = kubetrail ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kubetrail").path
        var extra: [String] = []
        if postgres != nil {
            let keygen = Process()
            keygen.executableURL = URL(fileURLWithPath: binary)
            keygen.arguments = ["keygen", "--out", work + "/digest.key"]
            keygen.standardError = FileHandle.nullDevice
            try keygen.run()
            keygen.waitUntilExit()
            extra += ["--digest-signing-key", work + "/digest.key"]
        }
        // On PostgreSQL each phase starts from a checkpoint, so none pays for the dirty pages of
        // the one before (SQLite checkpoints its own WAL).
        func settle() { _ = try? admin?.execute("CHECKPOINT") }
        let bodies = batches.map(\.body)
        let auditRows = auditBatches * 1000, logRows = logBatches * 5000
        func phase(_ database: String, detections: Bool) throws -> IngestPhase {
            settle()
            return try IngestPhase.run(
                binary: binary, database: database, aggregators: aggregators,
                arguments: ["--ingest-token-file", work + "/tokens"] + extra + (detections ? [] : ["--no-detections"]),
                token: token, bodies: bodies, clients: clients)
        }
        if compareDetections > 0 {
            // Pairs of phases, each on a store of its own, the order alternating so neither side
            // always runs on the warmer machine: one run's rate moves by up to a quarter here,
            // more than the difference measured.
            var on: [IngestPhase] = [], off: [IngestPhase] = []
            for round in 0..<compareDetections {
                for detections in round % 2 == 0 ? [true, false] : [false, true] {
                    let n = on.count + off.count
                    let name = "kubetrail_bench_\(getpid())_ab\(n)"
                    var database = work + "/" + name + ".db"
                    if let admin, let postgres {
                        try admin.execute("CREATE DATABASE \(name)")
                        database = Self.url(postgres, database: name)
                    }
                    defer {
                        // A store per run, gone after it: ten SQLite runs would leave gigabytes.
                        _ = try? admin?.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: work + "/" + name + ".db" + suffix) }
                    }
                    let result = try phase(database, detections: detections)
                    if detections { on.append(result) } else { off.append(result) }
                    print(
                        String(format: "phase %2d  detection ", n + 1) + (detections ? "on:  " : "off: ")
                            + String(
                                format: "%.0f rows/s in %.2f s, aggregator CPU %.1f s, %.1f s in commits", Double(auditRows + logRows) / result.elapsed,
                                result.elapsed, result.cpu,
                                result.metric("kubetrail_commit_duration_seconds_sum"))
                            + (detections
                                ? String(
                                    format: ", %.0f detection passes took %.1f s", result.metric("kubetrail_detection_pass_seconds_count"),
                                    result.metric("kubetrail_detection_pass_seconds_sum")) : ""))
                }
            }
            let pairs = zip(on, off).map { $1.elapsed / $0.elapsed }
            let cpu = zip(on, off).map { $0.cpu / $1.cpu }
            func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
            print(
                "ratio     ingest rate, detection on / off, by pair: " + pairs.map { String(format: "%.2f", $0) }.joined(separator: " ")
                    + String(format: "; median %.2f (goal ≥ 0.90)", median(pairs)))
            print(
                "cost      aggregator CPU, detection on / off, by pair: " + cpu.map { String(format: "%.2f", $0) }.joined(separator: " ")
                    + String(format: "; median %.2f", median(cpu)))
            return
        }
        let result = try phase(database, detections: !noDetections)
        let latencies = result.latencies, elapsed = result.elapsed, cpu = result.cpu
        func metric(_ name: String) -> Double { result.metric(name) }
        let rss = result.peakRSSKiB
        let inflated = batches.map(\.inflated).reduce(0, +)
        print("store     \(postgres == nil ? "SQLite" : "PostgreSQL"), \(aggregators) aggregator\(aggregators == 1 ? "" : "s")")
        print(
            String(
                format: "INGEST    %d clients, %d batches: %.0f rows/s (%d audit + %d container lines in %.2f s), %.1f MB/s inflated, %.1f MB/s on the wire",
                clients, batches.count, Double(auditRows + logRows) / elapsed, auditRows, logRows, elapsed,
                Double(inflated) / elapsed / 1e6, Double(batches.map(\.body.count).reduce(0, +)) / elapsed / 1e6))
        print(
            String(
                format: "latency   ack p50 %.1f ms, p99 %.1f ms", latencies[latencies.count / 2] * 1000,
                latencies[min(latencies.count - 1, latencies.count * 99 / 100)] * 1000))
        let commits = metric("kubetrail_commit_batches_count"), grouped = metric("kubetrail_commit_batches_sum")
        let commitSeconds = metric("kubetrail_commit_duration_seconds_sum")
        print(
            String(
                format: "commits   %.0f transactions for %.0f batches (%.1f per commit), %.1f s inside commits", commits, grouped, grouped / max(commits, 1),
                commitSeconds))
        print(
            String(
                format: "aggregator CPU %.1f s for %.2f s wall (%.0f%% of one core, all aggregators), peak RSS %.0f MiB (the first)", cpu, elapsed,
                100 * cpu / elapsed, Double(rss) / 1024))

        // Baseline: the same kinds of rows inserted straight into a store (no HTTP, no parsing).
        // The same page cache as the aggregator, so the baseline differs only by HTTP and parsing.
        let store =
            try baselineDatabase.map { try StoreLocation(parsing: $0).open(.readWrite) }
            ?? StoreLocation.sqlite(path: work + "/baseline.db").open(.readWrite(durability: .full, cacheMiB: Aggregator.pageCacheMiB))
        let ctx = IngestContext(clusterName: "bench", sourceType: .auditFile, sourceName: "node-0")
        var auditRowsBuilt: [AuditLogRow] = []
        for line in rawAudit { line.withUnsafeBytes { AuditDecoder.decode($0, context: ctx) { if case .row(let r) = $0 { auditRowsBuilt.append(r) } } } }
        let normalizer = PodLogNormalizer(
            context: IngestContext(sourceType: .containerFile), path: ContainerLogPath(path: "/var/log/pods/shop_web-0_uid-0/app/0.log"), nodeName: "node-0",
            fileIdentity: "x")
        var logRowsBuilt: [PodLogRow] = []
        for i in 0..<100_000 {
            let message: String = messages[i % 4] + " #" + String(i)
            let record = ContainerLogAssembler.Record(
                timestamp: .now, stream: "stdout", message: message, offset: Int64(i) * 100,
                lineNumber: i, truncated: false, incomplete: false)
            logRowsBuilt.append(normalizer.row(record))
        }
        // Prepared as the aggregator prepares them, inserted a batch at a time as it does.
        let auditPrepared = auditRowsBuilt.map { store.prepare($0) }, logPrepared = logRowsBuilt.map { store.prepare($0) }
        settle()
        let ta = try seconds {
            for chunk in stride(from: 0, to: auditPrepared.count, by: 1000) {
                _ = try store.write { w in try w.insert(Array(auditPrepared[chunk..<min(chunk + 1000, auditPrepared.count)])) }
            }
        }
        settle()
        let tl = try seconds {
            for chunk in stride(from: 0, to: logPrepared.count, by: 5000) {
                _ = try store.write { w in try w.insert(Array(logPrepared[chunk..<min(chunk + 5000, logPrepared.count)])) }
            }
        }
        print(
            String(
                format: "baseline  the store's own insert, one transaction per batch: audit %.0f rows/s, container lines %.0f rows/s",
                Double(auditRowsBuilt.count) / ta, Double(logRowsBuilt.count) / tl))
        if let copyDatabase {
            // What the server takes with no kubetrail logic at all: the same rows, bare COPY into
            // the same tables (of a database of their own), a commit per batch.
            guard let pg = try StoreLocation(parsing: copyDatabase).open(.readWrite) as? PostgresStore else { throw ValidationError("not a PostgreSQL store") }
            func copyRate(preEncoded: Bool) throws -> (audit: Double, lines: Double) {
                try PostgresConnection(url: copyDatabase).execute("TRUNCATE kubernetes_audit_logs, kubernetes_pod_logs")
                settle()
                let tc = try seconds {
                    for chunk in stride(from: 0, to: auditPrepared.count, by: 1000) {
                        try pg.copyWithoutChecks(Array(auditPrepared[chunk..<min(chunk + 1000, auditPrepared.count)]), preEncoded: preEncoded)
                    }
                }
                settle()
                let tcl = try seconds {
                    for chunk in stride(from: 0, to: logPrepared.count, by: 5000) {
                        try pg.copyWithoutChecks(Array(logPrepared[chunk..<min(chunk + 5000, logPrepared.count)]), preEncoded: preEncoded)
                    }
                }
                return (tc / Double(auditPrepared.count), tcl / Double(logPrepared.count))
            }
            // Seconds per row: COPY of lines encoded beforehand (the server's own rate), and COPY
            // by a client that encodes each row as it sends it.
            for (name, preEncoded) in [("bare COPY, rows encoded beforehand", true), ("bare COPY, rows encoded as sent", false)] {
                let (audit, lines) = try copyRate(preEncoded: preEncoded)
                // The ingest's mix of audit and container rows, at the bare COPY rates.
                let mixSeconds = Double(auditRows) * audit + Double(logRows) * lines
                print("baseline  \(name) (a commit per batch): " + String(format: "audit %.0f rows/s, container lines %.0f rows/s", 1 / audit, 1 / lines))
                print(
                    String(format: "ratio     ingest %.0f rows/s, ", Double(auditRows + logRows) / elapsed) + name
                        + String(format: " of the same mix %.0f rows/s: %.2f", Double(auditRows + logRows) / mixSeconds, mixSeconds / elapsed))
            }
        }
    }
}

extension IngestBench {
    /// `postgres://u@h:p/old?x` with `old` replaced by `database`.
    static func url(_ url: String, database: String) -> String {
        let query = url.firstIndex(of: "?").map { String(url[$0...]) } ?? ""
        let base = String(url[..<(url.firstIndex(of: "?") ?? url.endIndex)])
        let scheme = base.range(of: "://")!.upperBound
        let slash = base[scheme...].firstIndex(of: "/") ?? base.endIndex
        return String(base[..<slash]) + "/" + database + query
    }
}

final class BatchQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var index = 0
    private let count: Int
    init(count: Int) { self.count = count }
    func next() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard index < count else { return nil }
        index += 1
        return index - 1
    }
}

func processCPUSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return 0 }
    return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func peakRSSKiB(_ pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return 0
}

/// What the client threads measured, or the first error one met.
final class ClientResults: @unchecked Sendable {
    private let lock = NSLock()
    private var times: [Double] = []
    private var firstError: Error?

    func add(latency: Double) { lock.lock(); times.append(latency); lock.unlock() }
    func fail(_ error: Error) { lock.lock(); if firstError == nil { firstError = error }; lock.unlock() }
    var latencies: [Double] { lock.lock(); defer { lock.unlock() }; return times }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return firstError }
}

/// A reply body gathered from a streaming callback.
final class ByteSink: @unchecked Sendable {
    private(set) var bytes: [UInt8] = []
    func append(_ chunk: UnsafeRawBufferPointer) { bytes.append(contentsOf: chunk) }
}
