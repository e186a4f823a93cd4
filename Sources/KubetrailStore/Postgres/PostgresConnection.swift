import CLibpq
import Foundation

/// One connection to PostgreSQL through libpq, used by one thread at a time.
///
/// libpq (Debian's libpq5) rather than PostgresNIO: the store's protocol is synchronous — one
/// writer thread, one thread per query — which libpq's blocking calls fit with no event loop,
/// and libpq reads what PostgreSQL users already configure, exactly as psql does: `PGPASSWORD`,
/// `~/.pgpass`, `sslmode=verify-full`, `sslrootcert`, service files. It also adds no Swift package
/// to the build (PostgresNIO's first build takes 2.5–4.5 minutes here).
public final class PostgresConnection {
    /// A failure reported by the server or by libpq. `sqlState` is PostgreSQL's error code
    /// (`28P01` wrong password, `42601` syntax error, `23505` unique violation), nil when the
    /// connection itself failed.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var sqlState: String?
        public var message: String
        public var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }
    }

    /// A whole result read into memory (statements and small queries; bulk rows go by COPY).
    public struct Result: Sendable {
        public var columns: [String]
        public var rows: [[String?]]
        /// Rows the command changed (INSERT, UPDATE, DELETE, COPY); 0 for others.
        public var affected: Int
    }

    let conn: OpaquePointer
    /// Names of session objects made on this connection (temporary tables), made once.
    var session: Set<String> = []
    /// Left in a state no statement can use (a user's COPY): closed, never reused.
    var poisoned = false

    /// Connects to `url` (`postgres://USER@HOST:PORT/DB?sslmode=…`, or any libpq connection
    /// string). `password`, when given (`--db-password-file`), overrides the URL's and libpq's
    /// own sources. Errors never carry the password: libpq does not print it, and the URL is
    /// not repeated.
    public init(url: String, password: String? = nil, connectTimeout: Int = 10) throws {
        // Later keywords override earlier ones, and the expanded URL overrides the defaults.
        var pairs: [(String, String)] =
            [
                ("connect_timeout", String(connectTimeout)), ("application_name", "kubetrail"),
                ("client_encoding", "UTF8")
            ] + Self.deadPeerDefaults + [("dbname", url)]
        if let password { pairs.append(("password", password)) }
        let keywords = pairs.map { strdup($0.0) } + [nil]
        let values = pairs.map { strdup($0.1) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let c = keywords.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 1)
            }
        }
        guard let c else { throw Failure(sqlState: nil, message: "cannot connect to PostgreSQL: out of memory") }
        guard PQstatus(c) == CONNECTION_OK else {
            // libpq may quote a token of the URL it could not parse: a password never leaves.
            let message = PostgresURL.scrubbed(Self.trimmed(PQerrorMessage(c)), url: url, password: password)
            PQfinish(c)
            throw Failure(sqlState: nil, message: "cannot connect to PostgreSQL: \(message)")
        }
        // libpq prints NOTICEs (CREATE … IF NOT EXISTS skipping, say) to stderr unless told not to.
        PQsetNoticeProcessor(c, { _, _ in }, nil)
        conn = c
    }

    deinit { PQfinish(conn) }

    /// A server gone without a word (a failover, a partition, a dead node) is noticed within
    /// about a minute, not after the kernel's two hours of silence: TCP keepalives probe an idle
    /// connection (30 s, then 3 probes 10 s apart) and unacknowledged data gives up after 60 s.
    /// A slow query is not cut: the server's kernel answers the probes. The URL may override.
    static let deadPeerDefaults = [
        ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"),
        ("keepalives_count", "3"), ("tcp_user_timeout", "60000")
    ]

    /// The connection's socket, for tests of what the kernel was told.
    var socketDescriptor: Int32 { PQsocket(conn) }

    /// The value libpq uses for a connection option (`PQconninfo`), after defaults and the URL.
    func option(_ keyword: String) -> String? {
        guard let options = PQconninfo(conn) else { return nil }
        defer { PQconninfoFree(options) }
        var p = options
        while let name = p.pointee.keyword {
            if String(cString: name) == keyword { return p.pointee.val.map { String(cString: $0) } }
            p += 1
        }
        return nil
    }

    /// The server's version as an integer (150004 for 15.4).
    public var serverVersion: Int { Int(PQserverVersion(conn)) }

    /// Runs one statement with text parameters (`$1`, `$2`, …; nil is NULL).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws -> Result {
        let result = try Self.withCStrings(parameters) { PQexecParams(conn, sql, Int32(parameters.count), nil, $0, nil, nil, 0) }
        return try read(result)
    }

    /// `parameters` as the C string array libpq takes (nil is NULL), valid during `body`. A
    /// NUL would cut a C string short, and PostgreSQL text cannot hold one: refused.
    static func withCStrings<T>(_ parameters: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> T) throws -> T {
        if let i = parameters.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw Failure(sqlState: nil, message: "parameter $\(i + 1) contains a NUL byte, which PostgreSQL text cannot hold")
        }
        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        return copies.map { UnsafePointer($0) }.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    /// Sends `rows` through `COPY … FROM STDIN` (text format) in one statement; returns how
    /// many rows the server took. `copy` is the COPY statement, e.g. `COPY t (a, b) FROM STDIN`.
    @discardableResult
    public func copyIn(_ copy: String, rows: some Sequence<[String?]>) throws -> Int {
        try copyIn(copy, rows) { row, buffer in CopyText.append(row, to: &buffer) }
    }

    /// Rows already encoded as lines of COPY text (`CopyText`), as `PreparedRow` holds them.
    @discardableResult
    func copyIn(_ copy: String, lines: some Sequence<[UInt8]>) throws -> Int {
        try copyIn(copy, lines) { line, buffer in buffer.append(contentsOf: line) }
    }

    private func copyIn<S: Sequence>(_ copy: String, _ items: S, _ encode: (S.Element, inout [UInt8]) -> Void) throws -> Int {
        let start = PQexec(conn, copy)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            let f = failure(start)
            PQclear(start)
            throw f
        }
        PQclear(start)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        var failed: String?
        for item in items {
            encode(item, &buffer)
            if buffer.count >= 1 << 16 {
                if !send(buffer) { failed = Self.trimmed(PQerrorMessage(conn)); break }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if failed == nil, !buffer.isEmpty, !send(buffer) { failed = Self.trimmed(PQerrorMessage(conn)) }
        guard PQputCopyEnd(conn, failed) == 1 else {
            throw Failure(sqlState: nil, message: "COPY failed: \(Self.trimmed(PQerrorMessage(conn)))")
        }
        var outcome: Result?
        var error: Error?
        while let r = PQgetResult(conn) {
            do { outcome = try read(r) } catch let e { if error == nil { error = e } }
        }
        if let error { throw error }
        return outcome?.affected ?? 0
    }

    private func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { PQputCopyData(conn, $0, Int32(p.count)) == 1 }
        }
    }

    /// Reads and frees `result`, throwing the server's error.
    private func read(_ result: OpaquePointer?) throws -> Result {
        guard let result else { throw Failure(sqlState: nil, message: Self.trimmed(PQerrorMessage(conn))) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            let columnCount = PQnfields(result), rowCount = PQntuples(result)
            let columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
            let rows = (0..<rowCount).map { r in
                (0..<columnCount).map { c -> String? in
                    PQgetisnull(result, r, c) == 1
                        ? nil
                        : String(decoding: UnsafeRawBufferPointer(start: PQgetvalue(result, r, c), count: Int(PQgetlength(result, r, c))), as: UTF8.self)
                }
            }
            return Result(columns: columns, rows: rows, affected: Int(String(cString: PQcmdTuples(result))) ?? 0)
        default:
            throw failure(result)
        }
    }

    /// The server's own words, as SQLite's are given: the primary message, then its detail,
    /// hint and context (a COPY's line), without libpq's "ERROR:  " prefix and psql-style
    /// layout. No character position: the SQL run is not always the SQL the user wrote (an
    /// export's, an EXPLAIN's).
    func failure(_ result: OpaquePointer?) -> Failure {
        func field(_ code: Character) -> String? {
            guard let result, let c = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: c)
        }
        guard let primary = field("M") else { return Failure(sqlState: field("C"), message: Self.trimmed(PQerrorMessage(conn))) }
        var message = primary
        if let detail = field("D") { message += ". " + detail }
        if let hint = field("H") { message += " Hint: " + hint }
        if let context = field("W") { message += " (" + context.replacingOccurrences(of: "\n", with: "; ") + ")" }
        return Failure(sqlState: field("C"), message: message)
    }

    static func trimmed(_ c: UnsafePointer<CChar>?) -> String {
        guard let c else { return "" }
        var text = String(cString: c).trimmingCharacters(in: .whitespacesAndNewlines)
        for prefix in ["ERROR:  ", "FATAL:  "] where text.hasPrefix(prefix) { text.removeFirst(prefix.count) }
        return text
    }
}

/// What may be shown of a PostgreSQL URL: the password in it, if any, replaced.
public enum PostgresURL {
    /// Query parameters that carry secrets (libpq's `password`, and the client key's).
    static let secretParameters: Set<String> = ["password", "sslpassword"]

    public static func redacted(_ url: String) -> String {
        var url = url
        // ?password=… (and sslpassword) as well as user:password@.
        if let q = url.firstIndex(of: "?") {
            let query = url[url.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
                let key = pair.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
                return secretParameters.contains(key.lowercased()) ? key + "=****" : String(pair)
            }
            url = String(url[..<q]) + "?" + query.joined(separator: "&")
        }
        return redactedUserinfo(url)
    }

    private static func redactedUserinfo(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        // The host part ends at the path or query; a password may hold "@" and "/" unencoded,
        // so the user part ends at the last "@" before the query.
        let rest = url[scheme.upperBound...]
        let authority = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)]
        guard let at = authority.lastIndex(of: "@") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<url.index(after: colon)]) + "****" + String(url[at...])
    }
}

extension PostgresURL {
    /// The secrets a URL (or a password given apart) holds, as written and percent-decoded.
    static func secrets(_ url: String, password: String?) -> [String] {
        var found: [String] = password.map { [$0] } ?? []
        if let scheme = url.range(of: "://") {
            let rest = url[scheme.upperBound...]
            let authority = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)]
            if let at = authority.lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
                found.append(String(rest[rest.index(after: colon)..<at]))
            }
        }
        if let q = url.firstIndex(of: "?") {
            for pair in url[url.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2, secretParameters.contains(kv[0].lowercased()) { found.append(kv[1]) }
            }
        }
        found += found.compactMap { $0.removingPercentEncoding }
        return found.filter { $0.count >= 1 }
    }

    /// `message` with every secret of the URL (and every token of it libpq may quote) replaced.
    static func scrubbed(_ message: String, url: String, password: String?) -> String {
        var out = message
        for secret in secrets(url, password: password).sorted(by: { $0.count > $1.count }) {
            out = out.replacingOccurrences(of: secret, with: "****")
        }
        return out
    }
}
