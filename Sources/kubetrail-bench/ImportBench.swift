import ArgumentParser
import Foundation
import KubetrailImport
import KubetrailStore
import KubetrailTables

/// `kubetrail-bench import`: audit import throughput against two baselines on the same bytes —
/// reading and splitting lines only, and inserting already-built rows only — plus the README's
/// audit queries on the resulting database.
struct ImportBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Audit import throughput and query latency.")

    @Option(help: "Events to generate.") var events = 1_000_000
    @Option(help: "Working directory (default: a new temp dir).") var dir: String?
    @Option(help: "Rows pre-built for the insert-only baseline.") var insertRows = 200_000
    @Flag(help: "Keep the generated file and database.") var keep = false
    @Option(help: "Rows per transaction in the insert-only baseline.") var txRows = 10_000

    func run() throws {
        let work = dir ?? NSTemporaryDirectory() + "kubetrail-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: work) } }
        let file = work + "/audit.log"
        let now = Timestamp.now
        var bytes: Int64 = 0
        let genTime = try seconds {
            bytes = try AuditEventGenerator.write(count: events, to: file, start: now.adding(microseconds: -24 * 3_600_000_000), end: now)
        }
        let mb = Double(bytes) / 1e6
        print(String(format: "generated %d events, %.1f MB (%.0f B/event) in %.1f s", events, mb, Double(bytes) / Double(events), genTime))
        let rssStart = maxRSSMiB()

        // Baseline 1: read(2) + memchr line splitting of the same file.
        var lines = 0
        let splitTime = try seconds {
            try LineReader(FileDescriptorSource(path: file)).forEach { _ in
                lines += 1; return true
            }
        }
        print(String(format: "baseline  read+split lines:   %8.0f lines/s  %7.1f MB/s", Double(lines) / splitTime, mb / splitTime))

        // Baseline 2: parse only (the scanner, no store), on the same lines.
        var parsed = 0
        let parseTime = try seconds {
            let ctx = IngestContext(sourceType: .auditFile)
            try LineReader(FileDescriptorSource(path: file)).forEach { item in
                if case .line(let b, _, _) = item {
                    AuditDecoder.decode(b, context: ctx) { if case .row = $0 { parsed += 1 } }
                }
                return true
            }
        }
        print(String(format: "stage     parse to rows:      %8.0f rows/s   %7.1f MB/s", Double(parsed) / parseTime, mb / parseTime))

        // The real thing: kubetrail import on the whole file.
        let store = try StoreLocation.sqlite(path: work + "/import.db").open(.readWrite)
        let importer = Importer(store: store, options: .init(kind: .audit))
        var summary: ImportSummary?
        let importTime = try seconds { summary = try importer.run(InputFiles.expand([file])) }
        guard let summary else { return }
        let rate = Double(summary.stored) / importTime
        let importRSS = maxRSSMiB()
        // Baseline 3: insert already-built rows (the store alone).
        var built: [AuditLogRow] = []
        built.reserveCapacity(insertRows)
        let ctx = IngestContext(sourceType: .auditFile)
        try LineReader(FileDescriptorSource(path: file)).forEach { item in
            if case .line(let b, _, _) = item {
                AuditDecoder.decode(b, context: ctx) { if case .row(let r) = $0 { built.append(r) } }
            }
            return built.count < insertRows
        }
        let insertStore = try StoreLocation.sqlite(path: work + "/insert-only.db").open(.readWrite)

        let insertTime = try seconds {
            var i = 0
            while i < built.count {
                let chunk = built[i..<min(i + txRows, built.count)]
                _ = try insertStore.write { w in for r in chunk { _ = try w.insert(r) } }
                i += txRows
            }
        }
        let insertRate = Double(built.count) / insertTime
        print(String(format: "baseline  insert built rows:  %8.0f rows/s   (%d rows, all indexes)", insertRate, built.count))
        built = []

        print(
            String(
                format: "IMPORT    audit events:       %8.0f events/s %7.1f MB/s  (%d stored, %d rejected)", rate, mb / importTime, summary.stored,
                summary.rejected))
        print(
            String(
                format: "ratios    import/split %.3f   import/parse %.2f   import/insert-only %.2f",
                rate / (Double(lines) / splitTime), rate / (Double(parsed) / parseTime), rate / insertRate))
        print(
            String(
                format: "memory    peak RSS during import %.0f MiB (%.0f MiB before it; insert-only baseline holds its rows: %.0f MiB after)", importRSS,
                rssStart, maxRSSMiB()))
        let dbSize = (try? FileManager.default.attributesOfItem(atPath: work + "/import.db")[.size] as? Int64) ?? 0
        print(String(format: "database  %.1f MB for %.1f MB of input", Double(dbSize) / 1e6, mb))

        try queryLatency(store)
    }

    func queryLatency(_ store: any Store) throws {
        let queries: [(String, String)] = [
            (
                "failed authentication (last hour)",
                """
                SELECT stage_timestamp, user_name, source_ips, request_uri, response_code
                FROM kubernetes_audit_logs WHERE response_code IN (401, 403) AND stage_timestamp > NOW() - INTERVAL '1 hour'
                ORDER BY stage_timestamp DESC
                """
            ),
            (
                "secret access",
                """
                SELECT stage_timestamp, user_name, verb, namespace, name, response_code
                FROM kubernetes_audit_logs WHERE resource = 'secrets' AND verb IN ('get', 'list') ORDER BY stage_timestamp DESC
                """
            ),
            (
                "administrative actions",
                """
                SELECT stage_timestamp, user_name, verb, resource, namespace, name
                FROM kubernetes_audit_logs WHERE verb IN ('create', 'update', 'patch', 'delete') AND user_name NOT LIKE 'system:%'
                ORDER BY stage_timestamp DESC
                """
            )
        ]
        final class Count: QuerySink {
            var rows = 0
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) { rows += 1 }
            func end() {}
        }
        for (name, sql) in queries {
            var times: [Double] = []
            var rows = 0
            for _ in 0..<15 {
                let c = Count()
                times.append(try seconds { try store.query(sql, into: c) })
                rows = c.rows
            }
            times.sort()
            print(
                String(
                    format: "query     %-34@ median %7.1f ms  min %7.1f ms  (%d rows)", name as NSString, times[times.count / 2] * 1000, times[0] * 1000, rows))
        }
    }
}
