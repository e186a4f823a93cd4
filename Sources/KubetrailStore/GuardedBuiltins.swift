import GRDBSQLite

/// SQLite's string functions whose cost grows with their operands, wrapped so that each call
/// first checks the query's stop flag.
///
/// SQLite checks its progress handler and interrupt flag only when a statement loops. One row
/// that calls `replace` on a 16 MiB string three hundred times is straight-line code: it ran for
/// minutes past any limit. Wrapped, such a row stops at the first call after the deadline, so
/// the overrun is one call (tens of milliseconds at the value-length limit).
///
/// SQLite has no way to call a built-in it has been told to replace, so each wrapper runs the
/// original on a private in-memory connection (`SELECT name(?, …)`, prepared once), which costs
/// about a microsecond a call.
final class GuardedBuiltins {
    /// (name, argument counts; -1 for any). Deterministic unless named in `volatile`.
    static let wrapped: [(String, [Int32])] = [
        ("replace", [3]), ("substr", [2, 3]), ("substring", [2, 3]), ("printf", [-1]), ("format", [-1]),
        ("hex", [1]), ("upper", [1]), ("lower", [1]), ("trim", [1, 2]), ("ltrim", [1, 2]), ("rtrim", [1, 2]),
        ("quote", [1]), ("char", [-1]), ("zeroblob", [1]), ("randomblob", [1]), ("length", [1])
    ]
    static let volatile: Set<String> = ["randomblob"]

    private let helper: OpaquePointer
    private let control: QueryControl
    /// Prepared `SELECT name(?,…)` by name and argument count.
    private var statements: [String: OpaquePointer] = [:]

    private final class Entry {
        let owner: GuardedBuiltins
        let name: String
        init(_ owner: GuardedBuiltins, _ name: String) { self.owner = owner; self.name = name }
    }

    /// Registers the wrappers on `db`, which keeps this object (through its functions) until it
    /// closes.
    init?(on db: OpaquePointer, control: QueryControl) {
        var h: OpaquePointer?
        guard sqlite3_open_v2(":memory:", &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let h else {
            sqlite3_close(h)
            return nil
        }
        helper = h
        self.control = control
        // The same value-length limit as the connection's, so a wrapper builds nothing larger.
        sqlite3_limit(h, SQLITE_LIMIT_LENGTH, sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1))
        for (name, counts) in Self.wrapped {
            for argc in counts {
                let flags = SQLITE_UTF8 | (Self.volatile.contains(name) ? 0 : SQLITE_DETERMINISTIC)
                let entry = Unmanaged.passRetained(Entry(self, name)).toOpaque()
                sqlite3_create_function_v2(
                    db, name, argc, flags, entry,
                    { context, argc, argv in
                        let entry = Unmanaged<Entry>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
                        entry.owner.call(entry.name, context!, Int(argc), argv)
                    }, nil, nil, { p in if let p { Unmanaged<Entry>.fromOpaque(p).release() } })
            }
        }
    }

    /// Keeps the helper's limit in step when the connection's changes between queries.
    func setMaxValueBytes(_ bytes: Int32) { sqlite3_limit(helper, SQLITE_LIMIT_LENGTH, bytes) }

    deinit {
        for stmt in statements.values { sqlite3_finalize(stmt) }
        sqlite3_close_v2(helper)
    }

    private func call(_ name: String, _ context: OpaquePointer, _ argc: Int, _ argv: UnsafeMutablePointer<OpaquePointer?>?) {
        if control.stopped { return sqlite3_result_error(context, QueryControl.timeLimitMessage, -1) }
        let key = "\(name)/\(argc)"
        var stmt = statements[key]
        if stmt == nil {
            let sql = "SELECT \(name)(" + Array(repeating: "?", count: argc).joined(separator: ",") + ")"
            guard sqlite3_prepare_v2(helper, sql, -1, &stmt, nil) == SQLITE_OK, let prepared = stmt else {
                return sqlite3_result_error(context, String(cString: sqlite3_errmsg(helper)), -1)
            }
            statements[key] = prepared
        }
        guard let stmt else { return }
        // Bound copies are released at once: a 16 MiB operand should not outlive its call.
        defer { sqlite3_reset(stmt); sqlite3_clear_bindings(stmt) }
        for i in 0..<argc { sqlite3_bind_value(stmt, Int32(i + 1), argv![i]) }
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: sqlite3_result_value(context, sqlite3_column_value(stmt, 0))
        case SQLITE_TOOBIG: sqlite3_result_error_toobig(context)
        case SQLITE_NOMEM: sqlite3_result_error_nomem(context)
        default:
            let code = sqlite3_errcode(helper)
            if code == SQLITE_TOOBIG { return sqlite3_result_error_toobig(context) }
            if code == SQLITE_NOMEM { return sqlite3_result_error_nomem(context) }
            sqlite3_result_error(context, String(cString: sqlite3_errmsg(helper)), -1)
        }
    }
}
