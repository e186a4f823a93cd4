import CLibpq
import Foundation

extension PostgresConnection {
    /// Runs `COPY (select) TO STDOUT WITH (FORMAT binary)` and hands each row to `row` in
    /// place, its cells as PostgreSQL sends them (`PostgresBinaryValues` reads them). For
    /// kubetrail's own scans only, never a user's SQL.
    ///
    /// Why not single-row mode: libpq builds a PGresult per row (allocated, copied, described),
    /// which for a million audit rows cost 1.5 s before any row was looked at; a COPY row is one
    /// buffer of length-prefixed cells. A reason from `stop` cancels the statement; the rest of
    /// the data is drained so the connection stays usable.
    func copyOut(select sql: String, columns: Int, stop: PostgresStop, row: (PostgresRow) throws -> Void) throws {
        guard PQsendQuery(conn, "COPY (\(sql)) TO STDOUT WITH (FORMAT binary)") == 1 else {
            throw Failure(sqlState: nil, message: Self.trimmed(PQerrorMessage(conn)))
        }
        var failure: Error?
        guard let first = try next(stop: stop, onStop: { failure = failure ?? $0 }) else {
            throw Failure(sqlState: nil, message: "PostgreSQL ended the COPY before it began")
        }
        let status = PQresultStatus(first)
        if status != PGRES_COPY_OUT {
            let error =
                status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                ? Failure(sqlState: nil, message: "PostgreSQL answered the COPY with no data") : self.failure(first)
            PQclear(first)
            while let r = PQgetResult(conn) { PQclear(r) }
            throw failure ?? error
        }
        PQclear(first)
        let cells = UnsafeMutableBufferPointer<PostgresCell>.allocate(capacity: max(columns, 1))
        defer { cells.deallocate() }
        var cancelled = false
        var decoder = CopyBinary()
        func fail(_ error: Error) {
            failure = failure ?? error
            if !cancelled { cancelled = true; cancel() }
        }
        while true {
            var line: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(conn, &line, 1)
            if n > 0, let line {
                defer { PQfreemem(line) }
                guard failure == nil else { continue }
                do {
                    do {
                        let message = UnsafeRawBufferPointer(start: line, count: Int(n))
                        guard try decoder.read(message, into: cells, columns: columns) == .row else { continue }
                    } catch let m as CopyBinary.Malformed {
                        throw Failure(sqlState: nil, message: m.description)
                    }
                    try row(PostgresRow(cells: UnsafeBufferPointer(rebasing: cells[0..<columns])))
                    if let reason = stop.check() { throw Stopped(reason: reason) }
                } catch {
                    fail(error)
                }
            } else if n == 0 {
                // Nothing buffered: wait for the server, checking the caller's stop meanwhile.
                var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
                _ = poll(&fds, 1, 200)
                stop.heartbeat?()
                if failure == nil, let reason = stop.check() { fail(Stopped(reason: reason)) }
                guard PQconsumeInput(conn) == 1 else { throw Failure(sqlState: nil, message: Self.trimmed(PQerrorMessage(conn))) }
            } else if n == -1 {
                break
            } else {
                throw Failure(sqlState: nil, message: Self.trimmed(PQerrorMessage(conn)))
            }
        }
        while let result = try next(stop: PostgresStop(), onStop: { _ in }) {
            defer { PQclear(result) }
            if PQresultStatus(result) != PGRES_COMMAND_OK, failure == nil { failure = self.failure(result) }
        }
        if let failure { throw failure }
    }
}
