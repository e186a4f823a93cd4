import Foundation
import Synchronization

/// Runs a user's query read-only: in a `READ ONLY` transaction (which PostgreSQL enforces, and
/// which no statement can turn read-write after its first query), as one statement (the
/// extended protocol takes no second one to smuggle a COMMIT through), with the limits of
/// `QueryLimits`: `statement_timeout` on the server and the same clock here, rows and value
/// sizes counted as they stream, and a cancel sent when the client goes away.
///
/// The SQL is PostgreSQL's own: the product README's queries run as written. `now` is the
/// server's `now()`.
struct PostgresQuery {
    var connection: PostgresConnection
    let limits: QueryLimits
    /// How the transaction begins, and what runs first in it (`SET TRANSACTION SNAPSHOT`, for
    /// scans that share one snapshot over several connections).
    var begin = "BEGIN READ ONLY"
    var setup: [String] = []
    /// Rows counted against `limits.maxRows` with other queries of the same scan.
    var rowCount: SharedRowCount?

    func run(_ sql: String, into sink: some QuerySink) throws {
        try readOnly { c, stop in try run(sql, on: c, stop: stop, into: sink) }
    }

    /// `run` inside a transaction `inTransaction` began: for a follow's statements, which
    /// share one snapshot.
    func run(_ sql: String, on c: PostgresConnection, stop: PostgresStop, into sink: some QuerySink) throws {
        var types: [UInt32] = []
        var values: [QueryValue] = []
        var rows = 0
        try c.stream(
            sql, stop: stop,
            begin: { columns in
                types = columns.map(\.type)
                values = Array(repeating: .null, count: columns.count)
                try sink.begin(columns: columns.map { QueryColumn(name: $0.name, declaredType: PostgresValues.declaredType($0.type)) })
            },
            row: { row in
                try counted(row, &rows)
                for i in 0..<row.count { values[i] = PostgresValues.value(row, i, type: types[i]) }
                try sink.row(values)
            })
        if !types.isEmpty { try sink.end() }
    }

    /// Runs `sql` under the limits, handing each row to `row` in place (after `begin` with the
    /// columns, also when there are none). Rows and value sizes are counted here.
    func stream(_ sql: String, begin: ([PostgresColumn]) throws -> Void, row: (PostgresRow) throws -> Void) throws {
        try readOnly { c, stop in
            var rows = 0
            try c.stream(
                sql, stop: stop, begin: begin,
                row: { r in
                    try counted(r, &rows)
                    try row(r)
                })
        }
    }

    /// `body` in this query's read-only transaction, which stays open while it runs: for a scan
    /// whose other connections take its snapshot.
    func inTransaction(_ body: (PostgresConnection, PostgresStop) throws -> Void) throws {
        try readOnly(body)
    }

    /// The rows of `select` by binary COPY (several times cheaper per row than single-row
    /// mode), inside a transaction `inTransaction` began; for kubetrail's own SQL, never a user's.
    func copyRows(
        _ c: PostgresConnection, _ stop: PostgresStop, select sql: String, columns: Int,
        row: (PostgresRow) throws -> Void
    ) throws {
        var rows = 0
        try c.copyOut(
            select: sql, columns: columns, stop: stop,
            row: { r in
                try counted(r, &rows)
                try row(r)
            })
    }

    private func counted(_ r: PostgresRow, _ rows: inout Int) throws {
        rows += 1
        if let shared = rowCount { rows = shared.add() }
        if let max = limits.maxRows, rows > max {
            throw ReadOnlyConnection.tooManyRows(max)
        }
        for i in 0..<r.count where r.cells[i].count > limits.maxValueBytes {
            throw StoreError.limit("a value is longer than \(limits.maxValueBytes) bytes, the most a query may read")
        }
    }

    /// `body` in a read-only transaction under the limits, with the stop that enforces them;
    /// the server's errors as the store's.
    private func readOnly(_ body: (PostgresConnection, PostgresStop) throws -> Void) throws {
        let c = connection
        do {
            try c.execute(begin)
            for statement in setup { try c.execute(statement) }
        } catch let f as PostgresConnection.Failure {
            throw StoreError.sql(f.message)
        }
        defer { if c.inTransaction { _ = try? c.execute("ROLLBACK") } }
        // A query (not SET) so the transaction has its snapshot: from here it cannot become
        // read-write. Without a limit of its own the role's statement_timeout stands.
        // JIT off: its compile time grows with the size of the expressions, not the rows, and a
        // detection query over 51 rows spent 21 s compiling (31 ms without it).
        if let seconds = limits.timeLimit {
            try c.execute(
                "SELECT set_config('statement_timeout', $1, true), set_config('jit', 'off', true)", [String(max(1, Int((seconds * 1000).rounded(.up))))])
        } else {
            try c.execute("SELECT set_config('jit', 'off', true)")
        }
        let deadline = limits.timeLimit.map { Date().addingTimeInterval($0) }
        let cancelled = limits.cancelled
        let stop = PostgresStop(
            check: {
                if cancelled?() == true { return "the query was stopped: its client went away" }
                if let deadline, Date() >= deadline { return QueryControl.timeLimitMessage }
                return nil
            }, heartbeat: limits.heartbeat.map { h in { h() } })
        do {
            try body(c, stop)
        } catch let f as PostgresConnection.Failure {
            // 57014: canceled, by statement_timeout or by the cancel this side sent.
            if f.sqlState == "57014" { throw StoreError.limit(QueryControl.timeLimitMessage) }
            throw StoreError.sql(f.message)
        } catch let s as PostgresConnection.Stopped {
            throw StoreError.limit(s.reason)
        }
        // Nothing to commit in a read-only transaction, and a rollback undoes what a user's
        // `SET` or `set_config(…, false)` changed for the session: the connection goes back to
        // the pool with the settings kubetrail's own SQL relies on (UTC, standard strings).
        try c.execute("ROLLBACK")
    }
}

/// A row count shared by the connections of one scan, for its row limit.
final class SharedRowCount: Sendable {
    private let count = Atomic<Int>(0)
    /// Counts a row; the count with it.
    func add() -> Int { count.add(1, ordering: .relaxed).newValue }
}
