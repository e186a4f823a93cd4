import Foundation
import KubetrailCore
import KubetrailParquet
import Testing
import TestSupport

/// The Parquet writer read back by DuckDB: every value of every kind compared, across row
/// groups, pages, codecs, the dictionary and its PLAIN fallback, and random null patterns that
/// exercise both halves of the RLE / bit-packing hybrid.
@Suite struct ParquetWriterTests {
    enum Cell: Equatable {
        case null, string(String), int(Int64), bool(Bool), micros(Int64), day(Int32), list([String])
    }

    static let columns = [
        ParquetColumn(name: "id", kind: .int64, nullable: false),
        ParquetColumn(name: "name", kind: .string),
        ParquetColumn(name: "body", kind: .string),
        ParquetColumn(name: "code", kind: .int64),
        ParquetColumn(name: "flag", kind: .boolean),
        ParquetColumn(name: "ts", kind: .timestampMicros, nullable: false),
        ParquetColumn(name: "dt", kind: .date),
        ParquetColumn(name: "groups", kind: .stringList)
    ]

    static let awkward = ["", "a,b", "say \"hi\"", "line\nbreak\r\nmore", "数据库 €", "tab\there", "'single'", "\u{1F600}", "\\back\\slash"]

    /// Rows with every awkward string, nulls at random, repeated names (dictionary) and unique
    /// bodies, lists null, empty or long.
    static func rows(_ n: Int, seed: UInt64) -> [[Cell]] {
        var rng = SplitMix64(seed: seed)
        func pick(_ k: Int) -> Int { Int(rng.next() % UInt64(k)) }
        return (0..<n).map { i in
            let nullRun = (i / 37) % 3 == 0  // stretches with no nulls, to make RLE runs
            func maybe(_ c: Cell) -> Cell { !nullRun && pick(4) == 0 ? .null : c }
            let list: Cell =
                switch pick(5) {
                case 0: .null
                case 1: .list([])
                default: .list((0..<(1 + pick(4))).map { _ in awkward[pick(awkward.count)] + "g\(pick(7))" })
                }
            return [
                .int(Int64(i)),
                maybe(.string(["system:admin", "alice@example.com", "system:serviceaccount:kube-system:x"][pick(3)] + awkward[pick(awkward.count)])),
                maybe(.string("{\"n\":\(i),\"s\":\"\(rng.next())\"}")),
                maybe(.int([200, 403, 404, Int64.min, Int64.max, -1][pick(6)])),
                maybe(.bool(pick(2) == 0)),
                .micros(1_764_000_000_000_000 + Int64(i) * 1_000_003),
                maybe(.day(Int32(20_400 + i / 1000))),
                list
            ]
        }
    }

    static func write(_ rows: [[Cell]], to path: String, options: ParquetWriter.Options) throws {
        var data = Data()
        let w = try ParquetWriter(columns: columns, options: options) { data.append(contentsOf: $0) }
        for row in rows {
            for (c, cell) in row.enumerated() {
                switch cell {
                case .null: try w.appendNull(c)
                case .string(let s): w.append(c, string: s)
                case .int(let v), .micros(let v): w.append(c, int64: v)
                case .bool(let b): w.append(c, bool: b)
                case .day(let d): w.append(c, int32: d)
                case .list(let l): w.append(c, list: l)
                }
            }
            try w.endRow()
        }
        try w.close()
        #expect(w.bytesWritten == data.count)
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// DuckDB's reading of the file, as cells.
    static func read(_ path: String) throws -> [[Cell]] {
        let script = """
            import duckdb, json, sys
            rows = duckdb.sql("SELECT id, name, body, code, flag, epoch_us(ts), datediff('day', DATE '1970-01-01', dt), groups FROM read_parquet(?) ORDER BY id", params=[sys.argv[1]]).fetchall()
            print(json.dumps([list(r) for r in rows]))
            """
        let raw = try DuckDB.json(script, [path]) as! [[Any]]
        return raw.map { r in
            func opt(_ v: Any, _ f: (Any) -> Cell) -> Cell { v is NSNull ? .null : f(v) }
            return [
                .int((r[0] as! NSNumber).int64Value),
                opt(r[1]) { .string($0 as! String) },
                opt(r[2]) { .string($0 as! String) },
                opt(r[3]) { .int(($0 as! NSNumber).int64Value) },
                opt(r[4]) { .bool(($0 as! NSNumber).boolValue) },
                .micros((r[5] as! NSNumber).int64Value),
                opt(r[6]) { .day(($0 as! NSNumber).int32Value) },
                opt(r[7]) { .list(($0 as! [Any]).map { $0 as! String }) }
            ]
        }
    }

    @Test(arguments: ParquetCompression.allCases)
    func everyValueReadsBackThroughDuckDB(_ compression: ParquetCompression) throws {
        let dir = try TemporaryDirectory()
        let rows = Self.rows(5000, seed: 7)
        var options = ParquetWriter.Options()
        options.compression = compression
        options.rowGroupRows = 1500  // four row groups, the last one short
        options.pageSize = 4096  // many pages per chunk
        try Self.write(rows, to: dir.path("t.parquet"), options: options)
        let back = try Self.read(dir.path("t.parquet"))
        #expect(back.count == rows.count)
        for (i, (a, b)) in zip(rows, back).enumerated() where a != b {
            Issue.record("row \(i): wrote \(a), DuckDB read \(b)")
            break
        }
    }

    @Test func schemaTypesAreWhatDuckDBSees() throws {
        let dir = try TemporaryDirectory()
        try Self.write(Self.rows(10, seed: 1), to: dir.path("t.parquet"), options: .init())
        let types =
            try DuckDB.json(
                """
                import duckdb, json, sys
                print(json.dumps(dict((r[0], r[1]) for r in duckdb.sql("DESCRIBE SELECT * FROM read_parquet(?)", params=[sys.argv[1]]).fetchall())))
                """, [dir.path("t.parquet")]) as! [String: String]
        #expect(
            types == [
                "id": "BIGINT", "name": "VARCHAR", "body": "VARCHAR", "code": "BIGINT", "flag": "BOOLEAN",
                "ts": "TIMESTAMP WITH TIME ZONE", "dt": "DATE", "groups": "VARCHAR[]"
            ])
    }

    @Test func highCardinalityStringsFallBackToPlain() throws {
        let dir = try TemporaryDirectory()
        // 40,000 distinct 60-byte names: past the 1 MiB dictionary limit within the row group.
        let rows: [[Cell]] = (0..<40_000).map { i in
            [
                .int(Int64(i)), .string(String(repeating: "x", count: 50) + String(format: "%010d", i)), .null, .null, .null,
                .micros(Int64(i)), .null, .null
            ]
        }
        try Self.write(rows, to: dir.path("t.parquet"), options: .init())
        let back = try Self.read(dir.path("t.parquet"))
        #expect(back == rows)
        let encodings =
            try DuckDB.json(
                """
                import duckdb, json, sys
                print(json.dumps([r[0] for r in duckdb.sql("SELECT encodings FROM parquet_metadata(?) WHERE path_in_schema = 'name'", params=[sys.argv[1]]).fetchall()]))
                """, [dir.path("t.parquet")]) as! [String]
        #expect(encodings.count == 1 && !encodings[0].contains("DICTIONARY"), "\(encodings)")
    }

    @Test func emptyFileHasSchemaAndNoRows() throws {
        let dir = try TemporaryDirectory()
        try Self.write([], to: dir.path("t.parquet"), options: .init())
        #expect(try Self.read(dir.path("t.parquet")).isEmpty)
    }

    @Test func statisticsAreExactAndDuckDBSkipsRowGroupsByThem() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("t.parquet")
        let rows = Self.rows(4000, seed: 3)
        var options = ParquetWriter.Options()
        options.rowGroupRows = 1000
        try Self.write(rows, to: path, options: options)
        let stats =
            try DuckDB.json(
                """
                import duckdb, json, sys
                q = "SELECT row_group_id, stats_min_value, stats_max_value, stats_null_count FROM parquet_metadata(?) WHERE path_in_schema = ? ORDER BY row_group_id"
                print(json.dumps({c: duckdb.sql(q, params=[sys.argv[1], c]).fetchall() for c in ["id", "code", "name"]}))
                """, [path]) as! [String: [[Any]]]
        for g in 0..<4 {
            let slice = rows[(g * 1000)..<((g + 1) * 1000)]
            let id = stats["id"]![g]
            #expect(id[1] as? String == "\(g * 1000)" && id[2] as? String == "\(g * 1000 + 999)")
            let codes = slice.compactMap { r -> Int64? in if case .int(let v) = r[3] { return v } else { return nil } }
            #expect(stats["code"]![g][1] as? String == "\(codes.min()!)" && stats["code"]![g][2] as? String == "\(codes.max()!)")
            #expect((stats["code"]![g][3] as! NSNumber).intValue == slice.count - codes.count)
            let names = slice.compactMap { r -> String? in if case .string(let s) = r[1] { return s } else { return nil } }
            let sorted = names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            #expect(stats["name"]![g][1] as? String == sorted.first && stats["name"]![g][2] as? String == sorted.last)
        }
        // Overwrite the first row group's pages with garbage, footer untouched: a query that
        // needs them fails, one whose filter the statistics exclude never reads them.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let firstGroupEnd =
            try DuckDB.json(
                """
                import duckdb, json, sys
                print(duckdb.sql("SELECT max(total_compressed_size + coalesce(dictionary_page_offset, data_page_offset)) FROM parquet_metadata(?) WHERE row_group_id = 0", params=[sys.argv[1]]).fetchall()[0][0])
                """, [path]) as! NSNumber
        for i in 4..<firstGroupEnd.intValue { bytes[i] = 0xA5 }
        try bytes.write(to: URL(fileURLWithPath: path))
        let pruned =
            try DuckDB.json(
                """
                import duckdb, json, sys
                print(duckdb.sql("SELECT count(*), sum(length(body)) FROM read_parquet(?) WHERE id >= 1000", params=[sys.argv[1]]).fetchall()[0][1])
                """, [path]) as! NSNumber
        let bodies = rows[1000...].reduce(0) { n, r in if case .string(let s) = r[2] { return n + s.count } else { return n } }
        #expect(pruned.intValue == bodies)
        let whole = try DuckDB.run(
            """
            import duckdb, sys
            print(duckdb.sql("SELECT sum(length(body)) FROM read_parquet(?) WHERE id >= 0", params=[sys.argv[1]]).fetchall()[0][0])
            """, [path])
        #expect(whole.status != 0, "reading the garbled row group should fail: \(whole.stdout)")
    }
}
