import Foundation
import KubetrailTables
import Testing
import TestSupport

/// `kubetrail export --format parquet`, read back by DuckDB value by value, flat and in the
/// Tailpipe layout; tampering with nested files reported.
@Suite struct ParquetExportTests {
    typealias Lab = ExportCommandTests.Lab

    /// DuckDB's rows from Parquet files, ordered as the export is, with timestamps as epoch
    /// microseconds and dates as text.
    static func duckRows(_ files: [String], hive: Bool) throws -> [[String: Any]] {
        try DuckDB.json(
            """
            import duckdb, json, sys
            hive, files = sys.argv[1] == 'hive', sys.argv[2:]
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            src = con.sql("SELECT * FROM read_parquet(?, hive_partitioning = ?)", params=[files, hive])
            select = []
            for c, t in zip(src.columns, src.types):
                q = '"' + c + '"'
                t = str(t)
                select.append(f"epoch_us({q}) AS {q}" if t.startswith('TIMESTAMP') else f"CAST({q} AS VARCHAR) AS {q}" if t == 'DATE' else q)
            rel = con.sql(f"SELECT {', '.join(select)} FROM read_parquet(?, hive_partitioning = ?) ORDER BY tp_timestamp, tp_id", params=[files, hive])
            print(json.dumps([dict(zip(rel.columns, r)) for r in rel.fetchall()]))
            """, [hive ? "hive" : "flat"] + files) as! [[String: Any]]
    }

    /// The store's row as DuckDB shows the Parquet: timestamps as microseconds, JSON parsed.
    static func compare(_ got: [[String: Any]], _ want: [[String: Any]], table: String) {
        let schema = KubernetesTables.all.first { $0.name == table }!
        #expect(got.count == want.count, "\(table): \(got.count) rows read, \(want.count) stored")
        func canonical(_ v: Any?) -> String {
            let d = try? JSONSerialization.data(withJSONObject: ["v": v ?? NSNull()], options: [.sortedKeys])
            return d.map { String(decoding: $0, as: UTF8.self) } ?? "?"
        }
        for (g, w) in zip(got, want) {
            for column in schema.columns {
                var expected = w[column.name] ?? NSNull()
                var actual = g[column.name] ?? NSNull()
                if column.type == .timestamp, let s = expected as? String { expected = Timestamp(rfc3339: s)!.microseconds }
                if column.type == .json, let s = actual as? String {
                    actual = (try? JSONSerialization.jsonObject(with: Data(s.utf8), options: [.fragmentsAllowed])) ?? s
                }
                let a = canonical(actual), e = canonical(expected)
                #expect(a == e, "\(table).\(column.name): \(a) vs \(e)")
            }
        }
    }

    @Test(arguments: TestBackend.allCases) func parquetReadsBackValueByValue(backend: TestBackend) throws {
        let lab = try Lab(backend)
        for table in ["kubernetes_audit_logs", "kubernetes_pod_logs"] {
            let out = lab.dir.path("pq-\(table)")
            let r = try lab.kubetrail(["export", "--db", lab.db, "--table", table, "--out", out, "--format", "parquet", "--max-file-bytes", "8192"])
            #expect(r.status == 0, "\(r.stderr)")
            let files = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".parquet") }.sorted()
            #expect(files.count > 1 || table == "kubernetes_pod_logs", "\(files)")
            Self.compare(try Self.duckRows(files.map { out + "/" + $0 }, hive: false), try lab.storeRows(table), table: table)
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as! [String: Any]
            #expect(manifest["format"] as? String == "parquet" && manifest["layout"] as? String == "flat" && manifest["compression"] as? String == "zstd")
            // Audit exports record where the store's hash chain stood.
            let chain = manifest["chain"] as? [[String: Any]]
            if table == "kubernetes_audit_logs" {
                #expect(
                    chain?.count == 1 && chain?[0]["cluster"] as? String == "default" && chain?[0]["entries"] as? Int == 37
                        && (chain?[0]["head"] as? String)?.count == 64, "\(chain ?? [])")
            } else {
                #expect(chain == nil)
            }
        }
    }

    @Test func tailpipeLayoutIsHivePartitionedByDayAndReadsBack() throws {
        let lab = try Lab()
        // A second day and a second cluster name, so the layout has several directories.
        let log = lab.dir.path("more/shop_api_uid-2/app/0.log")
        try FileManager.default.createDirectory(atPath: (log as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "2026-11-28T09:00:00.000000001Z stdout F next day\n2026-11-28T09:00:01.000000001Z stderr F WARN still here\n"
            .write(toFile: log, atomically: true, encoding: .utf8)
        let imported = try lab.kubetrail(["import", "pod-logs", log, "--db", lab.db, "--node-name", "node-b", "--cluster-name", "prod/eu=1"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let out = lab.dir.path("tp")
        let r = try lab.kubetrail([
            "export", "--db", lab.db, "--table", "kubernetes_pod_logs", "--out", out, "--format", "parquet", "--layout", "tailpipe", "--compression", "gzip"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let walk = FileManager.default.enumerator(atPath: out)!
        let files = (walk.allObjects as! [String]).filter { $0.hasSuffix(".parquet") }.sorted()
        #expect(
            files == [
                "tp_table=kubernetes_pod_logs/tp_partition=default/tp_index=default/tp_date=2026-11-27/kubernetes_pod_logs-0001.parquet",
                "tp_table=kubernetes_pod_logs/tp_partition=default/tp_index=prod%2Feu%3D1/tp_date=2026-11-28/kubernetes_pod_logs-0001.parquet"
            ], "\(files)")
        Self.compare(try Self.duckRows(files.map { out + "/" + $0 }, hive: true), try lab.storeRows("kubernetes_pod_logs"), table: "kubernetes_pod_logs")
        // The partition columns live in the path only, as DuckDB's COPY … PARTITION_BY writes them.
        let inFile =
            try DuckDB.json(
                """
                import duckdb, json, sys
                print(json.dumps(duckdb.sql("SELECT * FROM read_parquet(?, hive_partitioning = false)", params=[sys.argv[1]]).columns))
                """, [out + "/" + files[0]]) as! [String]
        #expect(!inFile.contains("tp_date") && !inFile.contains("tp_index") && inFile.contains("tp_timestamp"))
    }

    @Test func tamperingWithNestedFilesIsReported() throws {
        let lab = try Lab()
        #expect(try lab.kubetrail(["keygen", "--out", lab.dir.path("key")]).status == 0)
        let out = lab.dir.path("tp")
        let r = try lab.kubetrail([
            "export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", out, "--format", "parquet",
            "--layout", "tailpipe", "--signing-key", lab.dir.path("key")
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let ok = try lab.kubetrail(["verify-export", out, "--public-key", lab.dir.path("key.pub")])
        #expect(ok.status == 0, "\(ok.stderr)")
        let dir = "tp_table=kubernetes_audit_logs/tp_partition=default/tp_index=default/tp_date=2017-09-11"
        let file = out + "/" + dir + "/kubernetes_audit_logs-0001.parquet"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: file))
        try FileManager.default.createDirectory(
            atPath: out + "/" + dir.replacingOccurrences(of: "2017-09-11", with: "2017-09-12"), withIntermediateDirectories: true)
        try Data("PAR1".utf8).write(to: URL(fileURLWithPath: out + "/" + dir.replacingOccurrences(of: "2017-09-11", with: "2017-09-12") + "/forged.parquet"))
        let bad = try lab.kubetrail(["verify-export", out, "--public-key", lab.dir.path("key.pub")])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("\(dir)/kubernetes_audit_logs-0001.parquet was changed"), "\(bad.stderr)")
        #expect(bad.stderr.contains("tp_date=2017-09-12/forged.parquet is not part of the export"), "\(bad.stderr)")
    }

    /// One audit event with an empty group list, a list of awkward strings, JSON with unicode
    /// and quotes, and nulls: the same values from CSV, JSON lines and Parquet.
    @Test func emptyListsNullsAndAwkwardTextSurviveEveryFormat() throws {
        let dir = try TemporaryDirectory()
        let event =
            #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"e-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/a,b/configmaps","verb":"create","user":{"username":"o'brien \"ob\"","groups":[]},"impersonatedUser":{"username":"x","groups":["g,1","line\nbreak","ünï"]},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"configmaps","namespace":"a,b","name":"多言語"},"requestObject":{"data":{"k":"v \"q\" ✓"}},"requestReceivedTimestamp":"2026-11-27T10:00:00.123456Z","stageTimestamp":"2026-11-27T10:00:00.223456Z"}"#
        let file = try dir.write("audit.log", event + "\n")
        #expect(try Subprocess.kubetrail(["import", "audit", file, "--db", dir.path("kt.db")]).status == 0)
        for format in ["csv", "jsonl", "parquet"] {
            let r = try Subprocess.kubetrail([
                "export", "--db", dir.path("kt.db"), "--table", "kubernetes_audit_logs", "--format", format, "--out", dir.path(format)
            ])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let got =
            try DuckDB.json(
                """
                import csv, json, sys, duckdb
                d = sys.argv[1]
                out = {}
                with open(d + '/csv/kubernetes_audit_logs-0001.csv', newline='', encoding='utf-8') as f:
                    r = list(csv.DictReader(f))[0]
                    out['csv'] = {k: r[k] for k in ('user_groups', 'impersonated_user_groups', 'user_name', 'namespace', 'name', 'request_object', 'response_code')}
                with open(d + '/jsonl/kubernetes_audit_logs-0001.jsonl', encoding='utf-8') as f:
                    r = json.loads(f.readline())
                    out['jsonl'] = {k: r[k] for k in ('user_groups', 'impersonated_user_groups', 'user_name', 'namespace', 'name', 'request_object', 'response_code')}
                rel = duckdb.sql("SELECT user_groups, impersonated_user_groups, user_name, namespace, name, request_object, response_code FROM read_parquet(?)", params=[d + '/parquet/kubernetes_audit_logs-0001.parquet'])
                out['parquet'] = dict(zip(rel.columns, rel.fetchall()[0]))
                print(json.dumps(out))
                """, [dir.path("")]) as! [String: [String: Any]]
        let groups = ["g,1", "line\nbreak", "ünï"]
        #expect(got["csv"]?["user_groups"] as? String == "[]")
        #expect(got["jsonl"]?["user_groups"] as? [String] == [])
        #expect(got["parquet"]?["user_groups"] as? [String] == [])
        #expect(got["jsonl"]?["impersonated_user_groups"] as? [String] == groups && got["parquet"]?["impersonated_user_groups"] as? [String] == groups)
        #expect((try? JSONSerialization.jsonObject(with: Data((got["csv"]?["impersonated_user_groups"] as? String ?? "").utf8))) as? [String] == groups)
        for format in ["csv", "jsonl", "parquet"] {
            #expect(
                got[format]?["user_name"] as? String == "o'brien \"ob\"" && got[format]?["namespace"] as? String == "a,b"
                    && got[format]?["name"] as? String == "多言語", "\(format)")
        }
        #expect(got["csv"]?["response_code"] as? String == "" && got["jsonl"]?["response_code"] is NSNull && got["parquet"]?["response_code"] is NSNull)
        let object = { (v: Any?) -> [String: Any]? in
            if let s = v as? String { return try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] }
            return v as? [String: Any]
        }
        for format in ["csv", "jsonl", "parquet"] {
            #expect((object(got[format]?["request_object"])?["data"] as? [String: String])?["k"] == "v \"q\" ✓", "\(format)")
        }
    }

    @Test func parquetOptionsAreCheckedBeforeAnythingIsWritten() throws {
        let lab = try Lab()
        let layout = try lab.kubetrail(["export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", lab.dir.path("a"), "--layout", "tailpipe"])
        #expect(layout.status == 2 && layout.stderr.contains("--layout tailpipe is for --format parquet"))
        let codec = try lab.kubetrail([
            "export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", lab.dir.path("b"), "--format", "parquet", "--compression", "lzo"
        ])
        #expect(codec.status == 2 && codec.stderr.contains("--compression takes zstd, gzip or none"))
        #expect(!FileManager.default.fileExists(atPath: lab.dir.path("a")) && !FileManager.default.fileExists(atPath: lab.dir.path("b")))
    }
}
