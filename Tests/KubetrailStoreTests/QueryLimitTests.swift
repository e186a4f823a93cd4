import Foundation
import GRDBSQLite
import Testing
import TestSupport
@testable import KubetrailStore

/// Probes from the security review (issue 13): each made one query run for minutes past its
/// time limit, because SQLite checks its limits only when a statement loops and these spend
/// their time inside function calls.
@Suite struct QueryLimitTests {
    let dir: TemporaryDirectory
    let path: String

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.path("limits.db")
        _ = try SQLiteStore(path: path)
    }

    /// `count` copies of `expression`, summed: one row, no loop between the calls.
    static func sum(_ expression: String, _ count: Int) -> String {
        Array(repeating: "(\(expression))", count: count).joined(separator: " + ")
    }

    static let a4M = "replace(hex(zeroblob(2000000)), '0', 'a')"  // 4,000,000 × 'a'

    static let probes: [(name: String, sql: String)] = [
        // Quadratic in SQLite's own instr: a needle of 1 M 'a' and a 'b' in 4 M 'a'.
        ("instr", "SELECT instr(h, n) FROM (SELECT \(a4M) AS h, replace(hex(zeroblob(500000)), '0', 'a') || 'b' AS n)"),
        // Value × pattern work in one LIKE / GLOB call.
        ("like", "SELECT h LIKE '%' || p FROM (SELECT \(a4M) AS h, replace(hex(zeroblob(1000)), '0', 'a') || 'b' AS p)"),
        ("glob", "SELECT h GLOB '*' || p FROM (SELECT \(a4M) AS h, replace(hex(zeroblob(1000)), '0', 'a') || 'b' AS p)"),
        // Each ILIKE under its operand cap, three hundred of them in one expression.
        ("ilike sum", "SELECT \(sum("h ILIKE p", 300)) FROM (SELECT printf('%.*c', 40000, 'a') AS h, '%' || printf('%.*c', 1200, 'a') || 'b' AS p)"),
        // Built-ins, each linear, many in one row.
        (
            "replace columns",
            "SELECT " + Array(repeating: "length(replace(x, 'a', 'bc'))", count: 300).joined(separator: ", ")
                + " FROM (SELECT \(a4M) AS x)"
        ),
        ("substr sum", "SELECT \(sum("length(substr(x, 2)) + length(upper(x))", 400)) FROM (SELECT \(a4M) AS x)"),
        // A detection's |re with nested quantifiers: exponential backtracking inside one call.
        ("regexp backtracking", "SELECT regexp('^(a+)+b$', printf('%.*c', 64, 'a'))"),
        // Capped by the value length: fails at once.
        ("printf width", "SELECT length(printf('%.*c', 100000000, 'a'))"),
        ("zeroblob", "SELECT length(zeroblob(100000000))")
    ]

    @Test(arguments: probes.map(\.name))
    func slowFunctionCallsStopAtTheTimeLimit(name: String) throws {
        let sql = Self.probes.first { $0.name == name }!.sql
        let started = Date()
        var outcome = "finished"
        do {
            try ReadOnlyConnection(path: path).run(sql, limits: .init(timeLimit: 1), into: Collect())
        } catch let error as StoreError {
            outcome = "\(error)"
        }
        let seconds = Date().timeIntervalSince(started)
        print("probe \(name): \(String(format: "%.2f", seconds)) s, \(outcome.prefix(100))")
        #expect(seconds < 8, "\(name) ran \(seconds) s with a 1 s limit")
        #expect(outcome == "finished" || outcome.contains("time limit") || outcome.contains("too big"), "\(outcome)")
    }

    @Test func aQueryAfterAStoppedOneRunsNormally() throws {
        let connection = try ReadOnlyConnection(path: path)
        #expect(throws: StoreError.self) {
            try connection.run(Self.probes[4].sql, limits: .init(timeLimit: 0.5), into: Collect())
        }
        let c = Collect()
        try connection.run("SELECT upper('ok'), 'abc' LIKE 'a%'", limits: .init(timeLimit: 5), into: c)
        #expect(c.rows == [["OK", "1"]])
    }

    @Test func theValueLengthLimitIsPerQuery() throws {
        var limits = ReadOnlyConnection.Limits()
        limits.maxValueBytes = 1 << 20
        // SQLite's printf gives NULL (or stops at the limit) rather than failing.
        let cut = Collect()
        try ReadOnlyConnection(path: path).run("SELECT length(printf('%.*c', 2000000, 'a'))", limits: limits, into: cut)
        #expect((Int(cut.rows[0][0]) ?? 0) <= 1 << 20, "\(cut.rows)")
        #expect(throws: StoreError.self) {
            try ReadOnlyConnection(path: path).run("SELECT length(replace(printf('%.*c', 600000, 'a'), 'a', 'bb'))", limits: limits, into: Collect())
        }
        let c = Collect()
        try ReadOnlyConnection(path: path).run("SELECT length(printf('%.*c', 2000000, 'a'))", into: c)
        #expect(c.rows == [["2000000"]])
    }

    /// The replacements answer as SQLite's own functions do (with `case_sensitive_like`).
    @Test func replacedFunctionsAgreeWithSQLite() throws {
        let expressions = [
            "'abc' LIKE 'a%'", "'abc' LIKE 'A%'", "'abc' LIKE '_b_'", "'abc' LIKE '__'", "'' LIKE '%'", "'a' LIKE ''",
            "'héllo' LIKE 'h_llo'", "'50%' LIKE '50!%' ESCAPE '!'", "'500' LIKE '50!%' ESCAPE '!'", "'a!' LIKE 'a!' ESCAPE '!'",
            "'ab' LIKE 'a%%%b'", "'aXbXc' LIKE '%X%X%'", "'mississippi' LIKE '%iss%ipp%'", "NULL LIKE 'a'", "'a' LIKE NULL",
            "123 LIKE '1%'", "'x' NOT LIKE 'y'", "'a_c' LIKE 'a\\_c' ESCAPE '\\'", "'abc' LIKE 'a\\_c' ESCAPE '\\'",
            "'abc' GLOB 'a*'", "'abc' GLOB 'A*'", "'abc' GLOB '?b?'", "'abc' GLOB '[a-c]bc'", "'dbc' GLOB '[a-c]bc'",
            "'dbc' GLOB '[^a-c]bc'", "']x' GLOB '[]]x'", "'-' GLOB '[a-]'", "'b' GLOB '[c-a]'", "'abc' GLOB '[abc'",
            "'ü' GLOB '[ä-ü]'", "'x*y' GLOB 'x[*]y'", "'' GLOB '*'", "'ab' GLOB '*?*?*'",
            "instr('hello', 'l')", "instr('héllo', 'l')", "instr('hello', '')", "instr('', 'a')", "instr('abc', 'd')",
            "instr(x'00010203', x'0203')", "instr(12345, 34)", "instr(NULL, 'a')", "instr('a', NULL)", "instr('日本語テキスト', 'テ')",
            "replace('aXbX', 'X', '--')", "substr('hello', 2)", "substr('hello', -3, 2)", "substring('héllo', 2, 3)",
            "printf('%05d|%s|%.2f', 42, 'x', 3.14159)", "format('%s', NULL)", "hex('abc')", "upper('abc')", "lower('ÀB')",
            "trim('  a  ')", "ltrim('xxa', 'x')", "rtrim('axx', 'x')", "quote('it''s')", "char(72, 105)", "length(zeroblob(5))",
            "length('héllo')", "length(NULL)", "typeof(randomblob(4))", "length(randomblob(7))"
        ]
        var plain: OpaquePointer?
        #expect(sqlite3_open(":memory:", &plain) == SQLITE_OK)
        defer { sqlite3_close(plain) }
        sqlite3_exec(plain, "PRAGMA case_sensitive_like = ON", nil, nil, nil)
        for expression in expressions {
            let ours = Collect()
            try ReadOnlyConnection(path: path).run("SELECT \(expression)", into: ours)
            var stmt: OpaquePointer?
            #expect(sqlite3_prepare_v2(plain, "SELECT \(expression)", -1, &stmt, nil) == SQLITE_OK)
            #expect(sqlite3_step(stmt) == SQLITE_ROW)
            let theirs = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? "NULL" : String(cString: sqlite3_column_text(stmt, 0))
            sqlite3_finalize(stmt)
            #expect(ours.rows == [[theirs]], "\(expression): ours \(ours.rows), SQLite's \(theirs)")
        }
    }

    @Test func likeErrorsMatchSQLite() throws {
        for (sql, message) in [
            ("SELECT 'a' LIKE 'a' ESCAPE 'xy'", "ESCAPE"),
            ("SELECT 'a' LIKE printf('%.*c', 60000, 'a')", "too complex")
        ] {
            do {
                try ReadOnlyConnection(path: path).run(sql, into: Collect())
                Issue.record("\(sql) should fail")
            } catch let error as StoreError {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
}
