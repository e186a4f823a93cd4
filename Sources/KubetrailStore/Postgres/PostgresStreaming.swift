import CLibpq
import Foundation

/// One row of a streamed result, read in place from libpq's buffer (text format). Valid only
/// during the call that receives it.
struct PostgresRow {
    let result: OpaquePointer
    let count: Int

    func isNull(_ i: Int) -> Bool { PQgetisnull(result, 0, Int32(i)) == 1 }

    func bytes(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: PQgetvalue(result, 0, Int32(i)), count: Int(PQgetlength(result, 0, Int32(i))))
    }

    func text(_ i: Int) -> String? { isNull(i) ? nil : String(decoding: bytes(i), as: UTF8.self) }
    func int(_ i: Int) -> Int64? { text(i).flatMap { Int64($0) } }
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
    func stream(_ sql: String, _ parameters: [String?] = [], stop: PostgresStop = PostgresStop(),
                begin: ([PostgresColumn]) throws -> Void, row: (PostgresRow) throws -> Void) throws {
        let sent = try Self.withCStrings(parameters) { PQsendQueryParams(conn, sql, Int32(parameters.count), nil, $0, nil, nil, 0) }
        guard sent == 1 else { throw Failure(sqlState: nil, message: Self.trimmed(PQerrorMessage(conn))) }
        PQsetSingleRowMode(conn)
        var failure: Error?
        var begun = false
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
                        try row(PostgresRow(result: result, count: Int(PQnfields(result))))
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
    private func next(stop: PostgresStop, onStop: (Error) -> Void) throws -> OpaquePointer? {
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
