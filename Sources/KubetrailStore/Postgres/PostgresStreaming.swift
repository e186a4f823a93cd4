import CLibpq
import Foundation

/// One row of a streamed result, read in place: from libpq's buffer (single-row mode) or from
/// a COPY line. Valid only during the call that receives it.
struct PostgresRow {
    /// Each cell's bytes; a nil start is NULL.
    let cells: UnsafeBufferPointer<PostgresCell>

    var count: Int { cells.count }
    func isNull(_ i: Int) -> Bool { cells[i].start == nil }
    func bytes(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: cells[i].start, count: cells[i].count) }
    func text(_ i: Int) -> String? { isNull(i) ? nil : String(decoding: bytes(i), as: UTF8.self) }
    func int(_ i: Int) -> Int64? { text(i).flatMap { Int64($0) } }
}

/// A cell of a `PostgresRow`: its text bytes, or a nil start for NULL.
struct PostgresCell {
    var start: UnsafeRawPointer?
    var count: Int
}

/// A column of a streamed result: its name and PostgreSQL type.
struct PostgresColumn {
    var name: String
    var type: UInt32
}

/// What a streaming read is stopped by, besides the server: checked while waiting for rows.
struct PostgresStop {
    /// Polled between rows and every 200 ms while the server works; a reason stops the query.
    var check: () -> String? = { nil }
    /// Called while waiting, for keep-alives.
    var heartbeat: (() -> Void)?
}

extension PostgresConnection {
    /// Runs one statement, handing each row to `row` as it arrives (libpq's single-row mode),
    /// after `begin` with the columns (also when there are no rows). A reason from `stop`
    /// cancels the statement on the server and is thrown as `Stopped`.
    func stream(
        _ sql: String, _ parameters: [String?] = [], stop: PostgresStop = PostgresStop(),
        begin: ([PostgresColumn]) throws -> Void, row: (PostgresRow) throws -> Void
    ) throws {
        let sent = try Self.withCStrings(parameters) { PQsendQueryParams(conn, sql, Int32(parameters.count), nil, $0, nil, nil, 0) }
        guard sent == 1 else { throw Failure(sqlState: nil, message: Self.trimmed(PQerrorMessage(conn))) }
        PQsetSingleRowMode(conn)
        var failure: Error?
        var begun = false
        var cells = UnsafeMutableBufferPointer<PostgresCell>.allocate(capacity: 0)
        defer { cells.deallocate() }
        // Once anything fails, the rest of the results are drained so the connection stays usable.
        while let result = try next(stop: failure == nil ? stop : PostgresStop(), onStop: { failure = failure ?? $0 }) {
            defer { PQclear(result) }
            guard failure == nil else { continue }
            switch PQresultStatus(result) {
            case PGRES_SINGLE_TUPLE, PGRES_TUPLES_OK:
                do {
                    if !begun {
                        begun = true
                        try begin((0..<PQnfields(result)).map { PostgresColumn(name: String(cString: PQfname(result, $0)), type: PQftype(result, $0)) })
                    }
                    if PQntuples(result) == 1, PQresultStatus(result) == PGRES_SINGLE_TUPLE {
                        let n = Int(PQnfields(result))
                        if cells.count < n {
                            cells.deallocate()
                            cells = .allocate(capacity: n)
                        }
                        for i in 0..<n {
                            let c = Int32(i)
                            // An empty string is a valid (non-NULL) value: the start pointer tells NULL.
                            cells[i] =
                                PQgetisnull(result, 0, c) == 1
                                ? PostgresCell(start: nil, count: 0)
                                : PostgresCell(start: UnsafeRawPointer(PQgetvalue(result, 0, c)), count: Int(PQgetlength(result, 0, c)))
                        }
                        try row(PostgresRow(cells: UnsafeBufferPointer(rebasing: cells[0..<n])))
                    }
                    if let reason = stop.check() { throw Stopped(reason: reason) }
                } catch {
                    failure = error
                    cancel()
                }
            case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                continue
            case PGRES_COPY_OUT, PGRES_COPY_IN, PGRES_COPY_BOTH:
                // A COPY holds the connection in its own state, where results never end: the
                // connection is given up (closed, never pooled) rather than drained.
                poisoned = true
                throw Failure(sqlState: "0A000", message: "COPY is not run as a query; use SELECT (or kubetrail export)")
            default:
                failure = self.failure(result)
            }
        }
        if let failure { throw failure }
    }

    /// The next result, waiting on the socket so `stop` is checked while the server works.
    func next(stop: PostgresStop, onStop: (Error) -> Void) throws -> OpaquePointer? {
        var cancelled = false
        while PQisBusy(conn) == 1 {
            var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
            _ = poll(&fds, 1, 200)
            stop.heartbeat?()
            if !cancelled, let reason = stop.check() {
                cancelled = true
                cancel()
                onStop(Stopped(reason: reason))
            }
            guard PQconsumeInput(conn) == 1 else { throw Failure(sqlState: nil, message: Self.trimmed(PQerrorMessage(conn))) }
        }
        return PQgetResult(conn)
    }

    /// Asks the server to stop the running statement (it answers with an error result).
    func cancel() {
        guard let c = PQgetCancel(conn) else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(c, &buffer, Int32(buffer.count))
        PQfreeCancel(c)
    }

    /// A streamed read stopped by its caller.
    struct Stopped: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// False once the connection is broken (the server went away): it is not reused.
    var isHealthy: Bool { !poisoned && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE }

    /// True inside a transaction block, also one a failed statement aborted.
    var inTransaction: Bool {
        guard !poisoned else { return false }
        let s = PQtransactionStatus(conn)
        return s == PQTRANS_INTRANS || s == PQTRANS_INERROR
    }
}
