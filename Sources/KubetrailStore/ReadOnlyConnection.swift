import Foundation
import GRDBSQLite
import KubetrailTables

/// A connection that can only read: opened read-only, with an authorizer that allows reading
/// and calling functions and denies everything else (writes, ATTACH, PRAGMA, transactions,
/// `load_extension`), and a progress handler that stops a query past its time limit. Used for
/// every query — local (`kubetrail query`) and remote (`POST /v1/query`).
public final class ReadOnlyConnection {
    public struct Limits: Sendable {
        public var maxRows: Int?
        /// Seconds; enforced by the progress handler, a watchdog that interrupts SQLite, and a
        /// stop check in every function whose cost grows with its operands (`QueryControl`).
        public var timeLimit: Double?
        /// The longest string or blob the query may read or build (`SQLITE_LIMIT_LENGTH`): what
        /// bounds the cost of one function call, and the memory one value takes.
        public var maxValueBytes = ReadOnlyConnection.defaultMaxValueBytes
        /// Polled while SQLite works (also between rows): true stops the query, so a client that
        /// went away frees its CPU even when no row comes out.
        public var cancelled: (@Sendable () -> Bool)?
        /// Called from the same polling now and then (SQLite's thread), for keep-alives.
        public var heartbeat: (@Sendable () -> Void)?
        public init(maxRows: Int? = nil, timeLimit: Double? = nil) {
            self.maxRows = maxRows
            self.timeLimit = timeLimit
        }
    }

    /// Large enough for the biggest record an agent may ship (16 MiB), far below SQLite's 1 GB.
    public static let defaultMaxValueBytes = 16 << 20

    private var handle: OpaquePointer?
    private let state = QueryControl()
    /// Opens the authorizer to BEGIN and COMMIT for this connection's own read transaction.
    private let gate = TransactionGate()
    private var builtins: GuardedBuiltins?
    public let path: String

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError.missing(path: path) }
        var h: OpaquePointer?
        let rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let message = h.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)"
            sqlite3_close(h)
            throw StoreError.open(path: path, message: message)
        }
        handle = h
        sqlite3_busy_timeout(h, 10_000)
        sqlite3_limit(h, SQLITE_LIMIT_LENGTH, Int32(Self.defaultMaxValueBytes))
        sqlite3_extended_result_codes(h, 1)
        RawFunctions.register(on: h, control: state)
        PatternFunctions.register(on: h, control: state)
        DetectionFunctions.register(on: h, control: state)
        DetectionMatchers.register(on: h, control: state)
        guard let builtins = GuardedBuiltins(on: h, control: state) else {
            sqlite3_close(h)
            throw StoreError.open(path: path, message: "cannot open the in-memory connection for guarded functions")
        }
        self.builtins = builtins
        sqlite3_set_authorizer(
            h,
            { gate, action, arg1, arg2, _, _ in
                switch action {
                case SQLITE_SELECT, SQLITE_READ, SQLITE_RECURSIVE:
                    return SQLITE_OK
                case SQLITE_TRANSACTION:
                    guard let gate else { return SQLITE_DENY }
                    return Unmanaged<TransactionGate>.fromOpaque(gate).takeUnretainedValue().open ? SQLITE_OK : SQLITE_DENY
                case SQLITE_UPDATE:
                    // Connecting an eponymous virtual table (json_each, pragma_table_info) reports an
                    // internal update of sqlite_master; a user's UPDATE of it needs writable_schema,
                    // a PRAGMA this connection refuses, and the connection is read-only anyway.
                    guard let table = arg1 else { return SQLITE_DENY }
                    return strcmp(table, "sqlite_master") == 0 ? SQLITE_OK : SQLITE_DENY
                case SQLITE_PRAGMA:
                    // Only pragmas that report and cannot change anything, whatever their argument.
                    guard let name = arg1 else { return SQLITE_DENY }
                    return readOnlyPragmas.contains(String(cString: name).lowercased()) ? SQLITE_OK : SQLITE_DENY
                case SQLITE_FUNCTION:
                    // For SQLITE_FUNCTION the third argument is the function's name.
                    // load_extension runs native code; fts3_tokenizer reads and writes raw pointers.
                    guard let name = arg2 else { return SQLITE_DENY }
                    return strcasecmp(name, "load_extension") == 0 || strcasecmp(name, "fts3_tokenizer") == 0 ? SQLITE_DENY : SQLITE_OK
                default:
                    return SQLITE_DENY
                }
            }, Unmanaged.passUnretained(gate).toOpaque())
        sqlite3_progress_handler(
            h, 1000,
            { context in
                guard let context else { return 0 }
                let state = Unmanaged<QueryControl>.fromOpaque(context).takeUnretainedValue()
                state.heartbeat?()
                return state.stopped || state.cancelled?() == true ? 1 : 0
            }, Unmanaged.passUnretained(state).toOpaque())
    }

    deinit { sqlite3_close_v2(handle) }

    /// Runs PostgreSQL-flavoured SQL (see `SQLDialect`), streaming each result set into `sink`.
    public func run(_ sql: String, now: Timestamp = .now, limits: Limits = .init(), into sink: some QuerySink) throws {
        let translated: String
        do { translated = try SQLDialect.translate(sql, now: now) } catch { throw StoreError.sql(error.description) }
        let maxValueBytes = Int32(clamping: limits.maxValueBytes)
        sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, maxValueBytes)
        builtins?.setMaxValueBytes(maxValueBytes)
        state.begin(seconds: limits.timeLimit, cancelled: limits.cancelled, heartbeat: limits.heartbeat)
        let arm = limits.timeLimit.map { QueryWatchdog.shared.arm(handle!, control: state, seconds: $0) }
        defer {
            if let arm { QueryWatchdog.shared.disarm(arm) }
            state.end()
        }
        var rows = 0
        var ranAny = false
        let remaining = Array(translated.utf8CString)
        try remaining.withUnsafeBufferPointer { buffer in
            var tail: UnsafePointer<CChar>? = buffer.baseAddress
            while let start = tail, start.pointee != 0 {
                var stmt: OpaquePointer?
                var next: UnsafePointer<CChar>?
                let rc = sqlite3_prepare_v2(handle, start, -1, &stmt, &next)
                tail = next
                guard rc == SQLITE_OK else { throw error(rc) }
                guard let stmt else { continue }  // whitespace or a comment
                defer { sqlite3_finalize(stmt) }
                ranAny = true
                let n = sqlite3_column_count(stmt)
                let columns = (0..<n).map { i in
                    QueryColumn(
                        name: String(cString: sqlite3_column_name(stmt, i)),
                        declaredType: sqlite3_column_decltype(stmt, i).map { String(cString: $0) })
                }
                var values = [QueryValue](repeating: .null, count: Int(n))
                let raw = sink as? any RawQuerySink
                var begun = false
                while true {
                    let step = sqlite3_step(stmt)
                    if step == SQLITE_DONE { break }
                    guard step == SQLITE_ROW else { throw error(step) }
                    if !begun { try sink.begin(columns: columns); begun = true }
                    rows += 1
                    if let max = limits.maxRows, rows > max { throw Self.tooManyRows(max) }
                    if let raw {
                        try raw.row(raw: StoreRow(stmt: stmt, count: Int(n)))
                    } else {
                        for i in 0..<n { values[Int(i)] = Self.value(stmt, i) }
                        try sink.row(values)
                    }
                    // SQLite's progress handler only sees SQLite's own work; formatting counts too.
                    if state.stopped { throw StoreError.limit(QueryControl.timeLimitMessage) }
                }
                if !begun, n > 0 { try sink.begin(columns: columns) }
                if n > 0 { try sink.end() }
            }
        }
        if !ranAny { throw StoreError.sql("no SQL statement to run") }
    }

    static func tooManyRows(_ max: Int) -> StoreError {
        .limit("the result has more than \(max) rows; add a LIMIT or narrow the query")
    }

    /// Starts a read transaction and fixes its snapshot (the first read does), so the
    /// statements run after it see the database as it was now; `endSnapshot` ends it.
    func beginSnapshot() throws {
        try internalStatement("BEGIN")
        try internalStatement("SELECT count(*) FROM sqlite_master")
    }

    func endSnapshot() throws { try internalStatement("COMMIT") }

    private func internalStatement(_ sql: String) throws {
        gate.open = true
        defer { gate.open = false }
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw StoreError.sql(String(cString: sqlite3_errmsg(handle))) }
    }

    private func error(_ rc: Int32) -> StoreError {
        // A stopped query fails with SQLITE_INTERRUPT, or with the error a guarded function raised.
        if rc & 0xFF == SQLITE_INTERRUPT || state.stopped, let reason = state.stopReason {
            return .limit(reason)
        }
        return .sql(String(cString: sqlite3_errmsg(handle)))
    }

    static func value(_ stmt: OpaquePointer, _ i: Int32) -> QueryValue {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_NULL: return .null
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(stmt, i))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(stmt, i))
            return .blob(sqlite3_column_blob(stmt, i).map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? [])
        default:
            let count = Int(sqlite3_column_bytes(stmt, i))
            return .text(sqlite3_column_text(stmt, i).map { String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self) } ?? "")
        }
    }
}

/// Whether the connection's authorizer lets a transaction statement through: only while the
/// connection itself runs one (`beginSnapshot`), never for a user's SQL.
private final class TransactionGate {
    var open = false
}

private let readOnlyPragmas: Set<String> = [
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "integrity_check", "quick_check", "compile_options", "function_list", "collation_list", "page_count", "freelist_count"
]

extension ReadOnlyConnection {
    /// A dictionary's value by id (`ValueDictionary`), read by a statement of this connection.
    final class ValueLookup {
        private var stmt: OpaquePointer?
        // Keeps the connection open while the statement lives.
        private let connection: ReadOnlyConnection

        init(_ connection: ReadOnlyConnection, table: String) throws {
            self.connection = connection
            guard sqlite3_prepare_v2(connection.handle, "SELECT value FROM \(quoteIdentifier(table)) WHERE id = ?", -1, &stmt, nil) == SQLITE_OK else {
                throw StoreError.sql(String(cString: sqlite3_errmsg(connection.handle)))
            }
        }

        deinit { sqlite3_finalize(stmt) }

        func value(_ id: Int64) throws -> [UInt8]? {
            defer { sqlite3_reset(stmt) }
            sqlite3_bind_int64(stmt, 1, id)
            switch sqlite3_step(stmt) {
            case SQLITE_ROW:
                guard let p = sqlite3_column_text(stmt, 0) else { return nil }
                return Array(UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, 0))))
            case SQLITE_DONE: return nil
            case let rc: throw StoreError.sql("reading an interned value: " + String(cString: sqlite3_errstr(rc)))
            }
        }
    }

    func valueLookup(table: String) throws -> ValueLookup { try ValueLookup(self, table: table) }

    /// Columns of one row of a table by rowid, read by a statement of this connection.
    final class RowLookup {
        private var stmt: OpaquePointer?
        private let connection: ReadOnlyConnection
        private let count: Int32

        init(_ connection: ReadOnlyConnection, sql: String) throws {
            self.connection = connection
            guard sqlite3_prepare_v2(connection.handle, sql, -1, &stmt, nil) == SQLITE_OK else {
                throw StoreError.sql(String(cString: sqlite3_errmsg(connection.handle)))
            }
            count = sqlite3_column_count(stmt)
        }

        deinit { sqlite3_finalize(stmt) }

        func values(_ rowid: Int64) throws -> [QueryValue]? {
            defer { sqlite3_reset(stmt) }
            sqlite3_bind_int64(stmt, 1, rowid)
            switch sqlite3_step(stmt) {
            case SQLITE_ROW: return (0..<count).map { ReadOnlyConnection.value(stmt!, $0) }
            case SQLITE_DONE: return nil
            case let rc: throw StoreError.sql("reading an audit row: " + String(cString: sqlite3_errstr(rc)))
            }
        }
    }

    func rowLookup(_ sql: String) throws -> RowLookup { try RowLookup(self, sql: sql) }
}
