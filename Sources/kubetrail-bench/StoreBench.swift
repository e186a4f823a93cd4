import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailStore

/// `kubetrail-bench store`: the store against DuckDB on one generated audit log, in one run —
/// import rate (the real `kubetrail import` process, with the audit chain, and its peak RSS),
/// database size, and the product README's audit queries plus the group-bys people run, each
/// timed in-process on both sides (no process start counted) with CSV output that is counted
/// and thrown away (`COPY … TO '/dev/null'` on DuckDB's side). Every figure is printed with its
/// ratio to DuckDB's and the issue's goal.
struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Import, size and queries against DuckDB (read_json into a table, then SQL) on the same generated audit log.")

    @Option(help: "Audit events to generate.") var events = 1_000_000
    @Option(help: "Hours the events span, ending now.") var hours = 24
    @Option(help: "Timed runs per query (the median is printed).") var runs = 5
    @Option(help: "Working directory (default: a new temp dir).") var dir: String?
    @Option(help: "Python with duckdb importable (default: the tools virtualenv, installed if needed).") var python: String?
    @Flag(help: "Keep the generated log and both databases.") var keep = false
    @Option(
        help: ArgumentHelp(
            "Also a PostgreSQL server (any database on it): the bench imports into a database of its own there and runs the same queries.",
            valueName: "postgres://…"))
    var postgres: String?

    /// One query in kubetrail's dialect and DuckDB's spelling over `read_json`'s columns, and the
    /// ratio the issue asks for.
    struct Query {
        var name: String
        var kubetrail: String
        var duckdb: String
        var goal: Double
    }

    static let queries: [Query] = [
        Query(
            name: "README: failed authentication, last hour",
            kubetrail: """
                SELECT stage_timestamp, user_name, source_ips, request_uri, response_code FROM kubernetes_audit_logs
                WHERE response_code IN (401, 403) AND stage_timestamp > NOW() - INTERVAL '1 hour' ORDER BY stage_timestamp DESC
                """,
            duckdb: """
                SELECT stageTimestamp, "user".username, sourceIPs, requestURI, responseStatus.code FROM audit
                WHERE responseStatus.code IN (401, 403) AND stageTimestamp > now() - INTERVAL 1 hour ORDER BY stageTimestamp DESC
                """, goal: 2),
        Query(
            name: "README: secret access",
            kubetrail: """
                SELECT stage_timestamp, user_name, verb, namespace, name, response_code FROM kubernetes_audit_logs
                WHERE resource = 'secrets' AND verb IN ('get', 'list') ORDER BY stage_timestamp DESC
                """,
            duckdb: """
                SELECT stageTimestamp, "user".username, verb, objectRef.namespace, objectRef.name, responseStatus.code FROM audit
                WHERE objectRef.resource = 'secrets' AND verb IN ('get', 'list') ORDER BY stageTimestamp DESC
                """, goal: 2),
        Query(
            name: "README: administrative actions",
            kubetrail: """
                SELECT stage_timestamp, user_name, verb, resource, namespace, name FROM kubernetes_audit_logs
                WHERE verb IN ('create', 'update', 'patch', 'delete') AND user_name NOT LIKE 'system:%' ORDER BY stage_timestamp DESC
                """,
            duckdb: """
                SELECT stageTimestamp, "user".username, verb, objectRef.resource, objectRef.namespace, objectRef.name FROM audit
                WHERE verb IN ('create', 'update', 'patch', 'delete') AND "user".username NOT LIKE 'system:%' ORDER BY stageTimestamp DESC
                """, goal: 2),
        Query(
            name: "top 10 users",
            kubetrail: """
                SELECT user_name, count(*) AS n FROM kubernetes_audit_logs GROUP BY user_name ORDER BY n DESC LIMIT 10
                """,
            duckdb: """
                SELECT "user".username AS user_name, count(*) AS n FROM audit GROUP BY 1 ORDER BY n DESC LIMIT 10
                """, goal: 5),
        Query(
            name: "top 20 verb × resource",
            kubetrail: """
                SELECT verb, resource, count(*) AS n FROM kubernetes_audit_logs GROUP BY verb, resource ORDER BY n DESC LIMIT 20
                """,
            duckdb: """
                SELECT verb, objectRef.resource, count(*) AS n FROM audit GROUP BY 1, 2 ORDER BY n DESC LIMIT 20
                """, goal: 5),
        Query(
            name: "top 10 namespaces",
            kubetrail: """
                SELECT namespace, count(*) AS n FROM kubernetes_audit_logs GROUP BY namespace ORDER BY n DESC LIMIT 10
                """,
            duckdb: """
                SELECT objectRef.namespace, count(*) AS n FROM audit GROUP BY 1 ORDER BY n DESC LIMIT 10
                """, goal: 5),
        Query(
            name: "403s per hour",
            kubetrail: """
                SELECT date_trunc('hour', stage_timestamp) AS hour, count(*) AS n FROM kubernetes_audit_logs
                WHERE response_code = 403 GROUP BY 1 ORDER BY 1
                """,
            duckdb: """
                SELECT date_trunc('hour', stageTimestamp) AS hour, count(*) AS n FROM audit
                WHERE responseStatus.code = 403 GROUP BY 1 ORDER BY 1
                """, goal: 2)
    ]

    func run() throws {
        let work = dir ?? NSTemporaryDirectory() + "kubetrail-bench-store-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: work) } }
        let python = try self.python ?? ExportBench.toolsPython()
        let log = work + "/audit.log", db = work + "/kubetrail.db", duckFile = work + "/duck.duckdb"
        let now = Timestamp.now
        let bytes = try AuditEventGenerator.write(count: events, to: log, start: now.adding(microseconds: -Int64(hours) * 3_600_000_000), end: now)
        let mb = Double(bytes) / 1e6
        print(String(format: "input     %d audit events, %.1f MB (%.0f B/event), over %d h ending now", events, mb, Double(bytes) / Double(events), hours))

        // kubetrail: the CLI's own import, as a user runs it.
        let kubetrail = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kubetrail").path
        var before = rusage(), after = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &before)
        let importSeconds = try seconds { _ = try ExportBench.run(kubetrail, ["import", "audit", log, "--db", db, "--no-progress"]) }
        getrusage(RUSAGE_CHILDREN.rawValue, &after)
        let importRSS = Double(after.ru_maxrss) / 1024
        // Settled size: the WAL checkpointed into the file (by Python's sqlite3, not our code).
        _ = try ExportBench.run("/usr/bin/python3", ["-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)')", db])
        let ourBytes = ["", "-wal", "-shm"].reduce(0) { $0 + Self.size(db + $1) }

        // DuckDB: read_json into a table, its size after a checkpoint, then every query.
        let script = """
            import duckdb, json, os, statistics, sys, time
            log, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
            queries = json.loads(sys.stdin.read())
            con = duckdb.connect(path)
            con.execute("SET enable_progress_bar = false")
            t = time.perf_counter()
            con.execute("CREATE TABLE audit AS SELECT * FROM read_json(?, format='newline_delimited')", [log])
            seconds = time.perf_counter() - t
            con.execute("CHECKPOINT")
            rows = con.execute("SELECT count(*) FROM audit").fetchone()[0]
            print(json.dumps({"import": seconds, "rows": rows, "bytes": os.path.getsize(path), "threads": con.execute("SELECT current_setting('threads')").fetchone()[0]}))
            for q in queries:
                times, out = [], 0
                for _ in range(runs):
                    t = time.perf_counter()
                    out = con.execute("COPY (" + q + ") TO '/dev/null' (FORMAT csv, HEADER)").fetchone()[0]
                    times.append(time.perf_counter() - t)
                print(json.dumps({"seconds": statistics.median(times), "rows": out}))
            """
        let duckOutput = try Self.runPython(
            python, script, [log, duckFile, String(runs)],
            stdin: try JSONSerialization.data(withJSONObject: Self.queries.map(\.duckdb)))
        let duck = duckOutput.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        let duckImport = duck[0]["import"] as! Double, duckBytes = duck[0]["bytes"] as! Int, duckRows = duck[0]["rows"] as! Int

        print(
            String(
                format:
                    "import    kubetrail %8.0f events/s (%.1f s, peak RSS %.0f MiB)   duckdb read_json %8.0f events/s (%.1f s, %@ threads)   ratio %.2f (goal ≥ 1.00)",
                Double(events) / importSeconds, importSeconds, importRSS, Double(duckRows) / duckImport, duckImport,
                "\(duck[0]["threads"] ?? "?")", duckImport / importSeconds))
        print(
            String(
                format: "size      kubetrail %8.1f MB   duckdb %8.1f MB   ratio %.2f (goal ≤ 1.50)",
                Double(ourBytes) / 1e6, Double(duckBytes) / 1e6, Double(ourBytes) / Double(duckBytes)))

        // PostgreSQL: the same CLI import into a database of the bench's own, analysed (as
        // autovacuum would) before the queries.
        var pgStore: (any Store)?
        var admin: PostgresConnection?
        let pgName = "kubetrail_store_\(getpid())"
        defer { if let admin, !keep { _ = try? admin.execute("DROP DATABASE IF EXISTS \(pgName) WITH (FORCE)") } }
        if let postgres {
            let c = try PostgresConnection(url: postgres)
            try c.execute("CREATE DATABASE \(pgName)")
            admin = c
            let url = IngestBench.url(postgres, database: pgName)
            let pgSeconds = try seconds { _ = try ExportBench.run(kubetrail, ["import", "audit", log, "--db", url, "--no-progress"]) }
            let pc = try PostgresConnection(url: url)
            try pc.execute("VACUUM ANALYZE")
            let pgBytes =
                Int(
                    try pc.execute("SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'").rows[
                        0][0] ?? "0") ?? 0
            print(
                String(
                    format: "import    PostgreSQL %8.0f events/s (%.1f s)   ratio to duckdb %.2f   size %.1f MB (ratio %.2f)",
                    Double(events) / pgSeconds, pgSeconds, duckImport / pgSeconds, Double(pgBytes) / 1e6, Double(pgBytes) / Double(duckBytes)))
            pgStore = try StoreLocation(parsing: url).open(.readOnly)
        }

        // kubetrail's queries, in-process, CSV counted and dropped, median of `runs`.
        let store = try StoreLocation.sqlite(path: db).open(.readOnly)
        print("queries   median of \(runs), in-process on both sides, CSV output discarded")
        func timed(_ store: any Store, _ sql: String) throws -> (seconds: Double, rows: Int) {
            var times: [Double] = []
            var rows = 0
            for _ in 0..<runs {
                let sink = CountingSink(OutputFormat.csv.sink(writingTo: TextOutput(chunkHandler: { _ in })))
                times.append(try seconds { try store.query(sql, into: sink) })
                rows = sink.rows
            }
            return (times.sorted()[times.count / 2], rows)
        }
        for (i, q) in Self.queries.enumerated() {
            let (ours, rows) = try timed(store, q.kubetrail)
            let theirs = duck[i + 1]["seconds"] as! Double
            let theirRows = duck[i + 1]["rows"] as! Int
            print(
                String(
                    format: "  %@ kubetrail %9.1f ms  duckdb %8.1f ms  ratio %6.1f (goal ≤ %.0f)  rows %d%@",
                    q.name.padding(toLength: 42, withPad: " ", startingAt: 0), ours * 1000, theirs * 1000, ours / theirs, q.goal, rows,
                    rows == theirRows ? "" : " (duckdb \(theirRows): the tables disagree)"))
            if let pgStore {
                let (pg, pgRows) = try timed(pgStore, q.kubetrail)
                print(
                    String(
                        format: "  %@ PostgreSQL %8.1f ms  ratio to duckdb %6.1f  rows %d%@", "".padding(toLength: 42, withPad: " ", startingAt: 0),
                        pg * 1000, pg / theirs, pgRows, pgRows == theirRows ? "" : " (duckdb \(theirRows): the tables disagree)"))
            }
        }
    }

    static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    static func runPython(_ python: String, _ script: String, _ args: [String], stdin: Data) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script] + args
        let input = Pipe(), out = Pipe()
        p.standardInput = input
        p.standardOutput = out
        try p.run()
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("the DuckDB side failed (\(p.terminationStatus))") }
        return String(decoding: data, as: UTF8.self)
    }
}
