import Foundation
import Synchronization
import Testing
import TestSupport
@testable import KubetrailStore

/// A query's limits on PostgreSQL: the time limit (the server's statement_timeout and this
/// side's clock), rows, value size, and a client that goes away — each stops the statement on
/// the server, and the store answers the next query as usual.
@Suite struct PostgresQueryLimitTests {
    final class Count: QuerySink {
        var rows = 0
        func begin(columns: [QueryColumn]) {}
        func row(_ values: [QueryValue]) { rows += 1 }
        func end() {}
    }

    static func stopped(_ store: any Store, _ sql: String, _ limits: QueryLimits) -> (message: String, seconds: Double) {
        let started = Date()
        do {
            try store.query(sql, now: .now, limits: limits, into: Count())
            return ("finished", Date().timeIntervalSince(started))
        } catch {
            return ("\(error)", Date().timeIntervalSince(started))
        }
    }

    /// JIT compiles in time that grows with a query's expressions: off for every query, with a
    /// time limit or without, and the session's own setting untouched afterwards.
    @Test func queriesRunWithoutJIT() throws {
        let store = try openStore(.postgres)
        final class Value: QuerySink {
            var value: QueryValue?
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) { value = values[0] }
            func end() {}
        }
        for limits in [QueryLimits(), QueryLimits(timeLimit: 10)] {
            let v = Value()
            try store.query("SELECT current_setting('jit')", now: .now, limits: limits, into: v)
            #expect(v.value == .text("off"))
        }
    }

    /// A user's query that changes a session setting changes it for itself only: the pooled
    /// connection comes back in UTC with standard strings, which kubetrail's own SQL (a quoted
    /// literal, a timestamp read back) relies on.
    @Test func aQuerysSettingsDoNotOutliveIt() throws {
        let store = try openStore(.postgres)
        final class Value: QuerySink {
            var value: QueryValue?
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) { value = values.first }
            func end() {}
        }
        for sql in [
            "SET standard_conforming_strings = off", "SELECT set_config('TimeZone', 'America/New_York', false)",
            "SET TimeZone = 'Asia/Tokyo'"
        ] {
            try store.query(sql, now: .now, limits: QueryLimits(), into: Value())
            let settings = Value()
            try store.query(
                "SELECT current_setting('standard_conforming_strings') || ' ' || current_setting('TimeZone')", now: .now, limits: QueryLimits(), into: settings)
            #expect(settings.value == .text("on UTC"), "after \(sql)")
            let quoted = Value()
            try store.query("SELECT " + PostgresSchema.literal("a\\' OR '1'='1"), now: .now, limits: QueryLimits(), into: quoted)
            #expect(quoted.value == .text("a\\' OR '1'='1"))
        }
    }

    @Test func eachLimitStopsTheStatementAndTheNextQueryRuns() throws {
        let store = try openStore(.postgres)
        for sql in ["SELECT pg_sleep(30)", "SELECT count(*) FROM generate_series(1, 2000000000)"] {
            let r = Self.stopped(store, sql, QueryLimits(timeLimit: 1))
            #expect(r.message.contains("time limit") && r.seconds < 5, "\(sql): \(r)")
        }
        let rows = Self.stopped(store, "SELECT generate_series(1, 1000)", QueryLimits(maxRows: 10))
        #expect(rows.message.contains("more than 10 rows"), "\(rows)")
        var limits = QueryLimits()
        limits.maxValueBytes = 1 << 20
        let value = Self.stopped(store, "SELECT repeat('a', 2000000)", limits)
        #expect(value.message.contains("longer than"), "\(value)")
        // The client goes away half a second in: the server's statement is cancelled.
        let start = Date()
        var leaving = QueryLimits()
        leaving.cancelled = { Date().timeIntervalSince(start) > 0.5 }
        let gone = Self.stopped(store, "SELECT pg_sleep(30)", leaving)
        #expect(gone.message.contains("client went away") && gone.seconds < 5, "\(gone)")
        let after = Count()
        try store.query("SELECT generate_series(1, 3)", into: after)
        #expect(after.rows == 3)
    }
}
