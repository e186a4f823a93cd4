import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailImport
import KubetrailStore

/// `kubetrail-bench export`: audit rows from the store to Parquet and CSV by the real
/// `kubetrail export` process, against DuckDB's own `COPY … TO 'x.parquet'` of the same rows
/// (read from our CSV) in the same run. Prints rows/s, MB/s, sizes and the exporter's peak RSS.
struct ExportBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export to Parquet and CSV against DuckDB's COPY to Parquet.")

    @Option(help: "Audit events to generate and import.") var events = 5_000_000
    @Option(help: "Working directory (default: a new temp dir).") var dir: String?
    @Option(help: "Re-use this database instead of generating one.") var db: String?
    @Option(help: "Python with duckdb importable (default: the tools virtualenv, installed if needed).") var python: String?
    @Flag(help: "Keep the generated files.") var keep = false

    func run() throws {
        let work = dir ?? NSTemporaryDirectory() + "kubetrail-bench-export-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: work) } }
        let python = try self.python ?? Self.toolsPython()
        var database = db ?? work + "/audit.db"
        if db == nil {
            let file = work + "/audit.log"
            let now = Timestamp.now
            _ = try AuditEventGenerator.write(count: events, to: file, start: now.adding(microseconds: -72 * 3_600_000_000), end: now)
            let t = try seconds {
                _ = try Importer(store: StoreLocation.sqlite(path: database).open(.readWrite), options: .init(kind: .audit)).run(InputFiles.expand([file]))
            }
            try FileManager.default.removeItem(atPath: file)
            print(String(format: "setup     imported %d events in %.1f s", events, t))
        } else {
            database = (database as NSString).expandingTildeInPath
        }
        let kubetrail = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kubetrail")

        func export(_ format: String, _ extra: [String] = []) throws -> (seconds: Double, rows: Int, bytes: Int, rssMiB: Double) {
            let out = work + "/export-\(format)\(extra.joined())"
            try? FileManager.default.removeItem(atPath: out)
            var status: Int32 = 0
            var before = rusage(), after = rusage()
            getrusage(RUSAGE_CHILDREN.rawValue, &before)
            let t = try seconds {
                let p = Process()
                p.executableURL = kubetrail
                p.arguments =
                    [
                        "export", "--db", database, "--table", "kubernetes_audit_logs", "--format", format, "--out", out,
                        "--max-file-bytes", "\(1 << 40)", "--no-progress"
                    ] + extra
                p.standardOutput = FileHandle.nullDevice
                try p.run()
                p.waitUntilExit()
                status = p.terminationStatus
            }
            getrusage(RUSAGE_CHILDREN.rawValue, &after)
            guard status == 0 else { throw ValidationError("kubetrail export --format \(format) failed (\(status))") }
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as! [String: Any]
            let files = manifest["files"] as! [[String: Any]]
            return (t, manifest["row_count"] as! Int, files.reduce(0) { $0 + ($1["bytes"] as! Int) }, Double(after.ru_maxrss) / 1024)
        }

        let csv = try export("csv")
        let csvMB = Double(csv.bytes) / 1e6
        let parquet = try export("parquet")
        let gzip = try export("parquet", ["--compression", "gzip"])

        // Baseline: DuckDB reads our CSV and writes Parquet (its defaults: snappy), same machine, same run.
        let csvFile = work + "/export-csv/kubernetes_audit_logs-0001.csv"
        let duck = try Self.duckdb(
            python,
            """
            import duckdb, sys, time, os
            con = duckdb.connect()
            con.execute("SET enable_progress_bar = false")
            src, dst = sys.argv[1], sys.argv[2]
            t = time.monotonic()
            con.execute(f"COPY (SELECT * FROM read_csv('{src}', header=true, max_line_size=100000000)) TO '{dst}' (FORMAT parquet)")
            copy = time.monotonic() - t
            t = time.monotonic()
            con.execute(f"COPY (SELECT * FROM read_csv('{src}', header=true, max_line_size=100000000)) TO '{dst}.zstd' (FORMAT parquet, COMPRESSION zstd)")
            zstd = time.monotonic() - t
            t = time.monotonic()
            n = con.execute(f"SELECT count(*) FROM read_csv('{src}', header=true, max_line_size=100000000)").fetchall()[0][0]
            scan = time.monotonic() - t
            print(copy, os.path.getsize(dst), zstd, os.path.getsize(dst + '.zstd'), scan, n, os.cpu_count())
            """, [csvFile, work + "/duckdb.parquet"])
        let f = duck.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        guard f.count == 7 else { throw ValidationError("unexpected output from the DuckDB baseline: \(duck)") }
        let (duckTime, duckBytes, duckZstdTime, duckZstdBytes, duckScan, duckRows) = (f[0], f[1], f[2], f[3], f[4], f[5])

        func line(_ name: String, _ r: (seconds: Double, rows: Int, bytes: Int, rssMiB: Double)) {
            print(
                String(
                    format: "%@ %9.0f rows/s  %7.1f MB/s of CSV-equivalent  %8.1f MB written  peak RSS %5.1f MiB",
                    name.padding(toLength: 26, withPad: " ", startingAt: 0), Double(r.rows) / r.seconds, csvMB / r.seconds, Double(r.bytes) / 1e6, r.rssMiB))
        }
        print(String(format: "rows      %d audit rows, %.1f MB as CSV", csv.rows, csvMB))
        line("EXPORT    csv", csv)
        line("EXPORT    parquet (zstd)", parquet)
        line("EXPORT    parquet (gzip)", gzip)
        print(
            String(
                format: "baseline  duckdb COPY csv→parquet (snappy) %9.0f rows/s  %7.1f MB/s  %8.1f MB  (%d threads)", duckRows / duckTime, csvMB / duckTime,
                duckBytes / 1e6, Int(f[6])))
        print(
            String(
                format: "baseline  duckdb COPY csv→parquet (zstd)   %9.0f rows/s  %7.1f MB/s  %8.1f MB", duckRows / duckZstdTime, csvMB / duckZstdTime,
                duckZstdBytes / 1e6))
        print(String(format: "baseline  duckdb read_csv count(*) only    %9.0f rows/s", duckRows / duckScan))
        print(
            String(
                format:
                    "ratios    parquet speed / duckdb %.2f (goal ≥ 0.50)   size / duckdb %.2f (goal ≤ 1.50)   size / duckdb zstd %.2f   csv speed / duckdb %.2f",
                duckTime / parquet.seconds, Double(parquet.bytes) / duckBytes, Double(parquet.bytes) / duckZstdBytes, duckTime / csv.seconds))
    }

    static func toolsPython() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let venv = env["KUBETRAIL_TOOLS_VENV"] ?? ((env["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache") + "/kubetrail-tools")
        let python = venv + "/bin/python"
        if (try? duckdb(python, "import duckdb", [])) != nil { return python }
        print("installing duckdb into \(venv)")
        if !FileManager.default.isExecutableFile(atPath: python) { _ = try run("/usr/bin/python3", ["-m", "venv", venv]) }
        _ = try run(venv + "/bin/pip", ["install", "--quiet", "duckdb"])
        return python
    }

    static func duckdb(_ python: String, _ script: String, _ args: [String]) throws -> String {
        try run(python, ["-c", script] + args)
    }

    static func run(_ executable: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("\(executable) \(args.prefix(1)) failed (\(p.terminationStatus))") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
