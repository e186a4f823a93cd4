import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailDetect
import KubetrailStore

/// The whole built-in pack over a generated audit log, next to one full scan of the same table
/// (`SELECT count(*) … WHERE verb = 'x'`) in the same run, on SQLite and optionally PostgreSQL.
struct DetectBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "The built-in detection pack over N audit rows, as a ratio to one full-table scan (goal ≤ 10).")

    @Option(help: "Audit events to generate.") var events = 1_000_000
    @Option(help: "Hours the events span, ending now.") var hours = 24
    @Option(help: "Timed runs of each query (the median is printed).") var runs = 3
    @Option(help: "Working directory (default: a new temp dir).") var dir: String?
    @Flag(help: "Also time each rule alone and print the slowest ten.") var perRule = false
    @Flag(help: "Keep the generated log and the database.") var keep = false
    @Flag(help: "Use the log and database a run with --keep left in --dir (no generation or import).") var reuse = false
    @Flag(help: "Time only kubetrail detect's evaluation, not the pack as SQL.") var scanOnly = false
    @Flag(help: "Measure only on the PostgreSQL server of --postgres (for profiling it).") var postgresOnly = false
    @Option(help: ArgumentHelp("Also a PostgreSQL server: the bench imports into a database of its own there.", valueName: "postgres://…"))
    var postgres: String?

    func run() throws {
        let work = dir ?? NSTemporaryDirectory() + "kubetrail-bench-detect-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if !keep && !reuse { try? FileManager.default.removeItem(atPath: work) } }
        let log = work + "/audit.log", db = work + "/kubetrail.db"
        let now = Timestamp.now
        let kubetrail = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kubetrail").path
        if reuse {
            guard dir != nil, FileManager.default.fileExists(atPath: db) else {
                throw ValidationError("--reuse needs --dir with a database a run with --keep left")
            }
            say("input     the log and database in \(work)")
        } else {
            let bytes = try AuditEventGenerator.write(count: events, to: log, start: now.adding(microseconds: -Int64(hours) * 3_600_000_000), end: now)
            say(String(format: "input     %d audit events, %.1f MB", events, Double(bytes) / 1e6))
            _ = try ExportBench.run(kubetrail, ["import", "audit", log, "--db", db, "--no-progress"])
        }
        let pack = try RuleSet.load(directories: []).detections
        say("rules     \(pack.count) (the built-in pack), median of \(runs) runs, in-process")

        if !postgresOnly { try measure("SQLite", try StoreLocation.sqlite(path: db).open(.readOnly), pack) }

        if let postgres {
            let admin = try PostgresConnection(url: postgres)
            // A kept database has a fixed name, so --reuse finds it.
            let name = keep || reuse ? "kubetrail_detect_kept" : "kubetrail_detect_\(getpid())"
            defer { if !keep && !reuse { _ = try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") } }
            let url = IngestBench.url(postgres, database: name)
            let exists = try admin.execute("SELECT 1 FROM pg_database WHERE datname = $1", [name]).rows.count == 1
            if !reuse || !exists {
                if exists { try admin.execute("DROP DATABASE \(name) WITH (FORCE)") }
                try admin.execute("CREATE DATABASE \(name)")
                _ = try ExportBench.run(kubetrail, ["import", "audit", log, "--db", url, "--no-progress"])
                try PostgresConnection(url: url).execute("VACUUM ANALYZE")
            }
            try measure("PostgreSQL", try StoreLocation(parsing: url).open(.readOnly), pack)
        }
    }

    func measure(_ engine: String, _ store: any Store, _ pack: [Detection]) throws {
        func median(_ sql: String? = nil, detections: [Detection]? = nil) throws -> (seconds: Double, rows: Int) {
            var times: [Double] = []
            var rows = 0
            for _ in 0..<runs {
                let counting = CountingSink(OutputFormat.csv.sink(writingTo: TextOutput(chunkHandler: { _ in })))
                if let detections {
                    let findings = FindingsSink(detections, output: counting)
                    times.append(
                        try seconds {
                            if let sql {
                                try store.query(sql, into: findings)
                            } else {
                                try DetectionScan(detections).run(on: store, from: nil, to: nil, into: findings)
                            }
                            try findings.finish()
                        })
                } else if let sql {
                    times.append(try seconds { try store.query(sql, into: counting) })
                }
                rows = counting.rows
            }
            return (times.sorted()[times.count / 2], rows)
        }
        // `verb` is indexed (the README's queries seek it), so the query is answered by a
        // seek; `verb || ''` is answered by scanning that index (it covers `verb`), not the table.
        // `verb || level` (`level` is in no index) makes the engine read every row of the table:
        // the full-table scan the pack is held to. The plans are printed to show it.
        let indexed = try median("SELECT count(*) FROM kubernetes_audit_logs WHERE verb = 'x'")
        let indexScan = try median("SELECT count(*) FROM kubernetes_audit_logs WHERE verb || '' = 'x'")
        let tableScanSQL = "SELECT count(*) FROM kubernetes_audit_logs WHERE verb || level = 'x'"
        let scan = try median(tableScanSQL)
        // The plans' node names (`SCAN kubetrail_audit_rows`; `Parallel Seq Scan on …`), so the reader sees what each read.
        func plan(_ sql: String) throws -> String {
            try store.explain(sql).map { line in
                String(line.split(separator: "(cost=").first ?? "").replacingOccurrences(of: "->", with: "").trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty }.joined(separator: " → ")
        }
        let viaSQL = scanOnly ? (seconds: 0, rows: 0) : try median(DetectionQuery(pack, engine: store.engine).sql(from: nil, to: nil), detections: pack)
        let all = try median(detections: pack)
        // The scan alone: the rows read and each one's rules looked up, none run.
        let none = try median(detections: [])
        say(
            String(
                format: "%@  count where verb = 'x': %.1f ms (index seek)   verb || '' = 'x': %.1f ms (%@)",
                engine.padding(toLength: 10, withPad: " ", startingAt: 0),
                indexed.seconds * 1000, indexScan.seconds * 1000, try plan("SELECT count(*) FROM kubernetes_audit_logs WHERE verb || '' = 'x'")))
        say(String(format: "            full-table scan (verb || level = 'x') %8.1f ms (%@)", scan.seconds * 1000, try plan(tableScanSQL)))
        say(
            String(
                format: "            whole pack as SQL (--server) %8.1f ms, %d findings   ratio to the scan %.1f", viaSQL.seconds * 1000, viaSQL.rows,
                viaSQL.seconds / scan.seconds))
        // The rows come over this many connections at once, each evaluated on its own thread.
        let streams = DetectionScan.historyStreams
        say(
            String(
                format: "            kubetrail detect's scan, no rule %8.1f ms   ratio to the scan %.1f   (%d stream%@)",
                none.seconds * 1000, none.seconds / scan.seconds, streams, streams == 1 ? "" : "s"))
        say(
            String(
                format: "            whole pack, kubetrail detect %8.1f ms, %d findings   ratio to the scan %.1f (goal ≤ 10; %.1f × verb || '')",
                all.seconds * 1000, all.rows, all.seconds / scan.seconds, all.seconds / indexScan.seconds))
        guard perRule else { return }
        var each: [(String, Double, Int)] = []
        for d in pack {
            let r = try median(detections: [d])
            each.append((d.name ?? d.id, r.seconds, r.rows))
        }
        for (name, s, rows) in each.sorted(by: { $0.1 > $1.1 }).prefix(10) {
            say(
                String(
                    format: "    %@ %8.1f ms  ratio %.1f  %d findings", name.padding(toLength: 48, withPad: " ", startingAt: 0), s * 1000, s / scan.seconds,
                    rows))
        }
    }
}

/// A line on standard output at once (print buffers when it is a file, and a long bench's
/// figures should be there as they are measured).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
