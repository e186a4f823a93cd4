import GRDBSQLite
import Foundation

/// `like`, `glob` and `instr` in place of SQLite's, on the read-only connection.
///
/// SQLite's versions search with value length × pattern length work in one call that neither
/// the progress handler nor `sqlite3_interrupt` can stop: `instr` of a 4 MiB needle in an 8 MiB
/// haystack, or `x LIKE '%aaa…ab'`, ran for minutes. These match the same semantics (LIKE
/// case-sensitive, as `PRAGMA case_sensitive_like = ON` makes it; `_`/`?` one UTF-8 character),
/// `instr` in linear time, LIKE and GLOB with a stop check. The price: SQLite no longer turns
/// `col LIKE 'prefix%'` into an index range (it does that only for its own function).
enum PatternFunctions {
    final class Context {
        let control: QueryControl
        let glob: Bool
        init(_ control: QueryControl, glob: Bool) { self.control = control; self.glob = glob }
    }

    static func register(on db: OpaquePointer, control: QueryControl) {
        let flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC
        for (name, argc, glob) in [("like", Int32(2), false), ("like", 3, false), ("glob", 2, true)] {
            let box = Unmanaged.passRetained(Context(control, glob: glob)).toOpaque()
            sqlite3_create_function_v2(
                db, name, argc, flags, box,
                { context, argc, argv in
                    let ctx = Unmanaged<Context>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
                    PatternFunctions.match(context!, ctx, Int(argc), argv!)
                }, nil, nil, { p in if let p { Unmanaged<Context>.fromOpaque(p).release() } })
        }
        let box = Unmanaged.passRetained(Context(control, glob: false)).toOpaque()
        sqlite3_create_function_v2(
            db, "instr", 2, flags, box,
            { context, _, argv in
                let ctx = Unmanaged<Context>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
                PatternFunctions.instr(context!, ctx.control, argv![0], argv![1])
            }, nil, nil, { p in if let p { Unmanaged<Context>.fromOpaque(p).release() } })
    }

    /// `like(pattern, value [, escape])` and `glob(pattern, value)`: the operators' argument order.
    private static func match(_ context: OpaquePointer, _ ctx: Context, _ argc: Int, _ argv: UnsafeMutablePointer<OpaquePointer?>) {
        if ctx.control.stopped { return sqlite3_result_error(context, QueryControl.timeLimitMessage, -1) }
        guard let pattern = text(argv[0]), let value = text(argv[1]) else { return sqlite3_result_null(context) }
        let db = sqlite3_context_db_handle(context)
        if pattern.count > Int(sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, -1)) {
            return sqlite3_result_error(context, "LIKE or GLOB pattern too complex", -1)
        }
        var escape: [UInt8]?
        if argc == 3 {
            guard let e = text(argv[2]) else { return sqlite3_result_null(context) }
            guard !e.isEmpty, e.count == WildcardPattern.sequenceLength(e[0]) else {
                return sqlite3_result_error(context, "ESCAPE expression must be a single character", -1)
            }
            escape = Array(e)
        }
        let compiled = WildcardPattern(pattern, syntax: ctx.glob ? .glob : .like(escape: escape))
        do {
            let matched = try compiled.matches(value.bindMemory(to: UInt8.self), shouldStop: { ctx.control.stopped })
            sqlite3_result_int(context, matched ? 1 : 0)
        } catch {
            sqlite3_result_error(context, QueryControl.timeLimitMessage, -1)
        }
    }

    /// `instr(haystack, needle)`: 1-based, in bytes when both are blobs, else in characters.
    private static func instr(_ context: OpaquePointer, _ control: QueryControl, _ h: OpaquePointer?, _ n: OpaquePointer?) {
        if control.stopped { return sqlite3_result_error(context, QueryControl.timeLimitMessage, -1) }
        if sqlite3_value_type(h) == SQLITE_NULL || sqlite3_value_type(n) == SQLITE_NULL { return sqlite3_result_null(context) }
        let blobs = sqlite3_value_type(h) == SQLITE_BLOB && sqlite3_value_type(n) == SQLITE_BLOB
        guard let haystack = blobs ? blob(h) : text(h), let needle = blobs ? blob(n) : text(n) else {
            return sqlite3_result_error_nomem(context)
        }
        if needle.isEmpty { return sqlite3_result_int64(context, 1) }
        guard let offset = ByteSearch.firstOffset(of: needle, in: haystack) else { return sqlite3_result_int64(context, 0) }
        if blobs { return sqlite3_result_int64(context, Int64(offset + 1)) }
        let bytes = haystack.bindMemory(to: UInt8.self)
        var characters: Int64 = 1
        for i in 0..<offset where bytes[i] & 0xC0 != 0x80 { characters += 1 }
        sqlite3_result_int64(context, characters)
    }

    /// A value as UTF-8 text (numbers converted, as SQLite's own functions do); nil for NULL or
    /// out of memory. Valid until the function returns.
    private static func text(_ v: OpaquePointer?) -> UnsafeRawBufferPointer? {
        guard sqlite3_value_type(v) != SQLITE_NULL, let p = sqlite3_value_text(v) else { return nil }
        return UnsafeRawBufferPointer(start: p, count: Int(sqlite3_value_bytes(v)))
    }

    private static func blob(_ v: OpaquePointer?) -> UnsafeRawBufferPointer? {
        let count = Int(sqlite3_value_bytes(v))
        if count == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }
        guard let p = sqlite3_value_blob(v) else { return nil }
        return UnsafeRawBufferPointer(start: p, count: count)
    }
}

/// Byte-string search in linear time: Rabin–Karp modulo the prime 2⁶¹−1 with a random base, so
/// no input can be built to make hashes collide everywhere (a power-of-two modulus can be) and
/// fall back to comparing at every position.
enum ByteSearch {
    private static let prime: UInt64 = (1 << 61) - 1

    private static func mulmod(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (high, low) = a.multipliedFullWidth(by: b)
        // 2⁶⁴ ≡ 2³ (mod 2⁶¹−1): fold the 128-bit product.
        let folded = (low & prime) + (low >> 61) + (high << 3)
        return folded % prime
    }

    static func firstOffset(of needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer) -> Int? {
        let n = haystack.count, m = needle.count
        guard m > 0, m <= n, let h = haystack.baseAddress, let p = needle.baseAddress else { return m == 0 ? 0 : nil }
        let base = UInt64.random(in: 256..<prime)
        var power: UInt64 = 1  // base^(m-1)
        var target: UInt64 = 0, window: UInt64 = 0
        for i in 0..<m {
            target = (mulmod(target, base) + UInt64(needle[i])) % prime
            window = (mulmod(window, base) + UInt64(haystack[i])) % prime
            if i > 0 { power = mulmod(power, base) }
        }
        var i = 0
        while true {
            if window == target, memcmp(h + i, p, m) == 0 { return i }
            if i + m >= n { return nil }
            let out = mulmod(UInt64(haystack[i]), power)
            window = (mulmod((window + prime - out) % prime, base) + UInt64(haystack[i + m])) % prime
            i += 1
        }
    }
}
