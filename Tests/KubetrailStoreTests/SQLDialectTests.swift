import Testing
@testable import KubetrailStore
@testable import KubetrailTables

@Suite struct SQLDialectTests {
    let now = Timestamp(rfc3339: "2026-11-27T12:00:00Z")!

    func t(_ sql: String) throws -> String { try SQLDialect.translate(sql, now: now) }

    @Test func nowMinusIntervalFoldsToALiteral() throws {
        #expect(try t("SELECT 1 WHERE ts > NOW() - INTERVAL '1 hour'") == "SELECT 1 WHERE ts > '2026-11-27T11:00:00.000000Z'")
        #expect(try t("x >= now() - interval '90 minutes'") == "x >= '2026-11-27T10:30:00.000000Z'")
        #expect(try t("x < CURRENT_TIMESTAMP + INTERVAL '2' DAY") == "x < '2026-11-29T12:00:00.000000Z'")
        #expect(try t("x > NOW() - INTERVAL 1 WEEK") == "x > '2026-11-20T12:00:00.000000Z'")
        #expect(try t("x > now() - INTERVAL '1 hour 30 minutes' - INTERVAL '30m'") == "x > '2026-11-27T10:00:00.000000Z'")
        #expect(try t("x > NOW() - INTERVAL '01:30:00'") == "x > '2026-11-27T10:30:00.000000Z'")
    }

    @Test func columnArithmeticBecomesAFunction() throws {
        #expect(try t("a.ts - INTERVAL '1 second' < b") == "kt_ts_add(a.ts, -1000000) < b")
        #expect(try t("date_trunc('hour', ts) + INTERVAL '1 hour'") == "kt_ts_add(date_trunc('hour', ts), 3600000000)")
        #expect(try t("(ts) - INTERVAL '1 ms'") == "kt_ts_add((ts), -1000)")
    }

    @Test func ambiguousOrUnsupportedIntervalsAreErrors() {
        #expect(throws: SQLDialectError.self) { try t("x > a + b - INTERVAL '1 hour'") }
        #expect(throws: SQLDialectError.self) { try t("SELECT INTERVAL '1 hour'") }
        #expect(throws: SQLDialectError.self) { try t("x > NOW() - INTERVAL '1 month'") }
        #expect(throws: SQLDialectError.self) { try t("x > NOW() - INTERVAL 'soon'") }
        #expect(throws: SQLDialectError.self) { try t("x > NOW() - INTERVAL") }
    }

    @Test func timestampLiteralsBecomeCanonical() throws {
        #expect(try t("ts > '2026-11-27 10:00:00'") == "ts > '2026-11-27T10:00:00.000000Z'")
        #expect(try t("ts > '2026-11-27T10:00:00+02:00'") == "ts > '2026-11-27T08:00:00.000000Z'")
        // Dates alone stay dates (tp_date comparisons), other strings are untouched.
        #expect(try t("tp_date = '2026-11-27'") == "tp_date = '2026-11-27'")
        #expect(try t("msg LIKE '%2026-11-27 10:00:00%'") == "msg LIKE '%2026-11-27 10:00:00%'")
    }

    @Test func stringsCommentsAndNamesAreLeftAlone() throws {
        let sql = "SELECT 'NOW() - INTERVAL ''1 hour''', \"now\" -- now()\nFROM t /* ILIKE */ WHERE now = 1"
        #expect(try t(sql) == sql)
    }

    @Test func ilikeBecomesCaseInsensitiveMatch() throws {
        #expect(try t("name ILIKE 'kube%' AND x NOT ILIKE '%A'") == "name MATCH 'kube%' AND x NOT MATCH '%A'")
        #expect(try LikePattern.matches(value: "Kube-System", pattern: "kube%", escape: nil))
        #expect(try LikePattern.matches(value: "abc", pattern: "a_c", escape: nil))
        #expect(try !LikePattern.matches(value: "abcd", pattern: "a_c", escape: nil))
        #expect(try LikePattern.matches(value: "50%", pattern: "50!%", escape: "!"))
        #expect(try !LikePattern.matches(value: "500", pattern: "50!%", escape: "!"))
        #expect(try LikePattern.matches(value: "", pattern: "%", escape: nil))
    }

    @Test func dateTruncUnits() {
        let ts = Timestamp(rfc3339: "2026-11-27T13:45:12.345678Z")!  // a Friday
        #expect(TruncationUnit.hour.truncate(ts).iso8601 == "2026-11-27T13:00:00.000000Z")
        #expect(TruncationUnit.day.truncate(ts).iso8601 == "2026-11-27T00:00:00.000000Z")
        #expect(TruncationUnit.week.truncate(ts).iso8601 == "2026-11-23T00:00:00.000000Z")
        #expect(TruncationUnit.month.truncate(ts).iso8601 == "2026-11-01T00:00:00.000000Z")
        #expect(TruncationUnit.quarter.truncate(ts).iso8601 == "2026-10-01T00:00:00.000000Z")
        #expect(TruncationUnit.milliseconds.truncate(ts).iso8601 == "2026-11-27T13:45:12.345000Z")
    }
}

@Suite struct SQLDialectHostileInputTests {
    let now = Timestamp(rfc3339: "2026-11-27T12:00:00Z")!

    @Test(arguments: [
        "200000000 days", "nan hours", "inf days", "-inf days", "99999999999999:00",
        "-9223372036854775808 us", "1e300 seconds", "3000000 days"
    ])
    func outOfRangeIntervalsAreErrorsNotCrashes(interval: String) {
        #expect(throws: SQLDialectError.self) { try SQLDialect.translate("x > NOW() + INTERVAL '\(interval)'", now: now) }
    }
}
