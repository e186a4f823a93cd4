import Foundation
import Testing
import TestSupport

/// `kubetrail export` and `verify-export` as processes: files read back by Python's csv and
/// json modules, compared value by value with the store; and every way to tamper with an
/// export reported.
@Suite struct ExportCommandTests {
    struct Lab {
        let dir: TemporaryDirectory
        let db: String

        init(_ backend: TestBackend = .sqlite) throws {
            dir = try TemporaryDirectory()
            db = try backend.location(in: dir, name: "kt.db")
            let imported = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", db])
            guard imported.status == 0 else { throw ServerError(imported.stderr) }
            // Pod-log lines with commas, quotes, unicode and no level (a null), and an empty one.
            let log = dir.path("shop_web_uid-1/app/0.log")
            try FileManager.default.createDirectory(atPath: (log as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try """
            2026-11-27T10:00:00.000000001Z stdout F price: 12,50 € — "quoted", and 'single'
            2026-11-27T10:00:01.000000001Z stderr F ERROR 数据库 failed, retrying; tab\there
            2026-11-27T10:00:02.000000001Z stdout F 

            """.write(toFile: log, atomically: true, encoding: .utf8)
            let pods = try Subprocess.kubetrail(["import", "pod-logs", log, "--db", db, "--node-name", "node-a"])
            guard pods.status == 0 else { throw ServerError(pods.stderr) }
        }

        func kubetrail(_ args: [String]) throws -> ProcessResult { try Subprocess.kubetrail(args) }

        /// The store's rows as JSON objects, in export order.
        func storeRows(_ table: String) throws -> [[String: Any]] {
            let r = try kubetrail(["query", "--db", db, "--output", "jsonl", "SELECT * FROM \(table) ORDER BY tp_timestamp, tp_id"])
            return r.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }
    }

    static func python(_ script: String, _ args: [String]) throws -> Any {
        let r = try Subprocess.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script] + args)
        guard r.status == 0 else { throw ServerError(r.stderr) }
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    /// A value as CSV writes it: null empty, JSON as its text, booleans as 1/0 (SQLite's).
    static func csvText(_ v: Any) -> String {
        switch v {
        case is NSNull: return ""
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default:
            let d = try! JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .withoutEscapingSlashes])
            return String(decoding: d, as: UTF8.self)
        }
    }

    @Test(arguments: TestBackend.allCases) func csvAndJSONLinesReadBackValueByValue(backend: TestBackend) throws {
        let lab = try Lab(backend)
        for table in ["kubernetes_audit_logs", "kubernetes_pod_logs"] {
            let expected = try lab.storeRows(table)
            #expect(expected.count > 0)
            // CSV, split into several files, each with its header.
            let csvDir = lab.dir.path("csv-\(table)")
            let csv = try lab.kubetrail(["export", "--db", lab.db, "--table", table, "--out", csvDir, "--max-file-bytes", "4096"])
            #expect(csv.status == 0, "\(csv.stderr)")
            let files = try FileManager.default.contentsOfDirectory(atPath: csvDir).filter { $0.hasSuffix(".csv") }.sorted()
            #expect(files.count > 1 || table == "kubernetes_pod_logs")
            let read =
                try Self.python(
                    """
                    import csv, json, sys
                    rows = []
                    for path in sys.argv[1:]:
                        with open(path, newline='', encoding='utf-8') as f:
                            rows += list(csv.DictReader(f))
                    print(json.dumps(rows))
                    """, files.map { csvDir + "/" + $0 }) as! [[String: String]]
            #expect(read.count == expected.count)
            for (got, want) in zip(read, expected) {
                for (column, value) in want {
                    let text = Self.csvText(value)
                    // JSON columns: compare as JSON, the text's key order is the store's.
                    if let a = try? JSONSerialization.jsonObject(with: Data(text.utf8)),
                        let b = try? JSONSerialization.jsonObject(with: Data((got[column] ?? "").utf8)),
                        text.hasPrefix("{") || text.hasPrefix("[")
                    {
                        #expect(NSDictionary(dictionary: ["v": a]).isEqual(to: ["v": b]), "\(table).\(column)")
                    } else {
                        #expect(got[column] == text, "\(table).\(column): \(got[column] ?? "nil") vs \(text)")
                    }
                }
            }
            // JSON lines: the same objects.
            let jsonDir = lab.dir.path("jsonl-\(table)")
            let jsonl = try lab.kubetrail(["export", "--db", lab.db, "--table", table, "--out", jsonDir, "--format", "jsonl"])
            #expect(jsonl.status == 0, "\(jsonl.stderr)")
            let lines =
                try Self.python(
                    """
                    import json, sys
                    print(json.dumps([json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]))
                    """, [jsonDir + "/\(table)-0001.jsonl"]) as! [[String: Any]]
            #expect(lines.count == expected.count)
            for (got, want) in zip(lines, expected) {
                // Compared as JSON text: Foundation on Linux does not call two parsed `false`s equal.
                func canonical(_ v: Any?) -> String {
                    let d = try? JSONSerialization.data(withJSONObject: ["v": v ?? NSNull()], options: [.sortedKeys])
                    return d.map { String(decoding: $0, as: UTF8.self) } ?? "?"
                }
                let differing = Set(got.keys).union(want.keys).filter { canonical(got[$0]) != canonical(want[$0]) }
                #expect(differing.isEmpty, "\(table): \(differing.sorted().map { "\($0): \(got[$0] ?? "nil") vs \(want[$0] ?? "nil")" })")
            }
        }
        let messages = try lab.storeRows("kubernetes_pod_logs").map { $0["log_message"] as? String ?? "?" }
        #expect(messages.contains("price: 12,50 € — \"quoted\", and 'single'") && messages.contains(""))
    }

    @Test(arguments: TestBackend.allCases) func filtersAndTheManifestDescribeWhatWasExported(backend: TestBackend) throws {
        let lab = try Lab(backend)
        let out = lab.dir.path("secrets")
        let r = try lab.kubetrail([
            "export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", out, "--format", "jsonl",
            "--verb", "get,list", "--resource", "pods", "--from", "2017-01-01T00:00:00Z", "--to", "2030-01-01T00:00:00Z"
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let want = try lab.kubetrail([
            "query", "--db", lab.db, "--output", "csv",
            "SELECT count(*) FROM kubernetes_audit_logs WHERE verb IN ('get','list') AND resource = 'pods'"
        ])
        let count = Int(want.stdout.split(separator: "\n")[1])!
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as! [String: Any]
        #expect(manifest["row_count"] as? Int == count && count > 0)
        #expect(manifest["where"] as? String == "verb IN ('get', 'list') AND resource = 'pods'")
        #expect(manifest["from"] as? String == "2017-01-01T00:00:00.000000Z")
        #expect((manifest["first_tp_timestamp"] as? String ?? "") <= (manifest["last_tp_timestamp"] as? String ?? ""))
        #expect(manifest["signature"] == nil)
    }

    @Test func everyWayToTamperIsReported() throws {
        let lab = try Lab()
        #expect(try lab.kubetrail(["keygen", "--out", lab.dir.path("key")]).status == 0)
        #expect(try lab.kubetrail(["keygen", "--out", lab.dir.path("other")]).status == 0)
        func export(_ name: String) throws -> String {
            let out = lab.dir.path(name)
            let r = try lab.kubetrail([
                "export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", out,
                "--max-file-bytes", "8192", "--signing-key", lab.dir.path("key")
            ])
            #expect(r.status == 0 && r.stdout.contains("manifest.json signed"), "\(r.stderr)")
            return out
        }
        func verify(_ dir: String, key: String = "key.pub") throws -> ProcessResult {
            try lab.kubetrail(["verify-export", dir, "--public-key", lab.dir.path(key)])
        }
        let good = try export("good")
        let ok = try verify(good)
        #expect(ok.status == 0 && ok.stdout.contains("complete and unaltered"))
        #expect(try verify(good, key: "other.pub").stderr.contains("signed with another key"))

        let changed = try export("changed")
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: changed + "/kubernetes_audit_logs-0002.csv"))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data("X".utf8))
        try handle.close()
        let c = try verify(changed)
        #expect(c.status == 1 && c.stderr.contains("kubernetes_audit_logs-0002.csv was changed"), "\(c.stderr)")

        let missing = try export("missing")
        try FileManager.default.removeItem(atPath: missing + "/kubernetes_audit_logs-0001.csv")
        #expect(try verify(missing).stderr.contains("kubernetes_audit_logs-0001.csv is missing"))

        let added = try export("added")
        try "tp_id\nforged\n".write(toFile: added + "/kubernetes_audit_logs-0099.csv", atomically: true, encoding: .utf8)
        #expect(try verify(added).stderr.contains("kubernetes_audit_logs-0099.csv is not part of the export"))

        let edited = try export("edited")
        let manifestPath = edited + "/manifest.json"
        let text = try String(contentsOfFile: manifestPath, encoding: .utf8)
        try text.replacingOccurrences(of: "\"row_count\" : 37", with: "\"row_count\" : 36").write(toFile: manifestPath, atomically: true, encoding: .utf8)
        let e = try verify(edited)
        #expect(e.stderr.contains("the manifest was changed after signing") && e.stderr.contains("the manifest says 36"), "\(e.stderr)")

        let unsigned = lab.dir.path("unsigned")
        #expect(try lab.kubetrail(["export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", unsigned]).status == 0)
        #expect(try verify(unsigned).stderr.contains("the manifest is not signed"))

        // Without a key: every file is checked against the manifest, and the answer says who
        // wrote the manifest was not.
        func unkeyed(_ dir: String) throws -> ProcessResult { try lab.kubetrail(["verify-export", dir]) }
        for dir in [good, unsigned] {
            let r = try unkeyed(dir)
            #expect(
                r.status == 0 && r.stdout.contains("every file matches its manifest") && r.stderr.contains("authenticity NOT checked"),
                "\(r.stdout) \(r.stderr)")
        }
        let damaged = try unkeyed(changed)
        #expect(
            damaged.status == 1 && damaged.stderr.contains("kubernetes_audit_logs-0002.csv was changed") && !damaged.stdout.contains("OK"), "\(damaged.stderr)")
        #expect(try unkeyed(missing).stderr.contains("kubernetes_audit_logs-0001.csv is missing"))
        #expect(try unkeyed(added).stderr.contains("kubernetes_audit_logs-0099.csv is not part of the export"))
        #expect(try unkeyed(edited).stderr.contains("the manifest says 36"))
    }

    @Test func badRequestsAreRefusedClearly() throws {
        let lab = try Lab()
        let table = try lab.kubetrail(["export", "--db", lab.db, "--table", "kubernetes_nothing", "--out", lab.dir.path("x")])
        #expect(table.status == 1 && table.stderr.contains("unknown table kubernetes_nothing"))
        let format = try lab.kubetrail(["export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", lab.dir.path("y"), "--format", "table"])
        #expect(format.status == 2 && format.stderr.contains("--format takes csv, jsonl or parquet"))
        try FileManager.default.createDirectory(atPath: lab.dir.path("full"), withIntermediateDirectories: true)
        try "keep me".write(toFile: lab.dir.path("full/notes.txt"), atomically: true, encoding: .utf8)
        let full = try lab.kubetrail(["export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", lab.dir.path("full")])
        #expect(full.status == 1 && full.stderr.contains("is not empty"))
        let sqlError = try lab.kubetrail([
            "export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", lab.dir.path("z"), "--where", "no_such_column = 1"
        ])
        #expect(sqlError.status == 1 && sqlError.stderr.contains("no_such_column"), "\(sqlError.stderr)")
        try "not a key".write(toFile: lab.dir.path("bad.key"), atomically: true, encoding: .utf8)
        let key = try lab.kubetrail([
            "export", "--db", lab.db, "--table", "kubernetes_audit_logs", "--out", lab.dir.path("k"), "--signing-key", lab.dir.path("bad.key")
        ])
        #expect(key.status == 1 && key.stderr.contains("does not hold base64 of 32 bytes"))
    }
}
