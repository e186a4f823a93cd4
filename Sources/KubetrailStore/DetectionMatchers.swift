import Foundation
import GRDBSQLite
import KubetrailCore

/// The text tests of detections on SQLite, one function call for all of a field's values:
///
/// - `kubetrail_text_any(value, patterns)`: the value matches any of the patterns;
/// - `kubetrail_list_any(list, patterns)`: an element of a list column (a JSON array of strings) does;
/// - `kubetrail_json_text_any(document, '["key", …]', patterns)`: a string the lax path reaches does;
/// - `kubetrail_json_bool(document, '["key", …]', 1|0)`: the path reaches `true` (or `false`).
///
/// `patterns` is a JSON array of LIKE patterns (`%`, `_`, `\` escapes) compared with ASCII
/// letters folded, as detections compare text. A rule with eight `|contains` values on one field
/// was eight calls, each converting both arguments to Swift strings; this is one call over the
/// value's bytes, with the patterns and the path compiled once per statement (SQLite's auxdata
/// for a constant argument). NULL or a missing value is no match (0), never NULL.
enum DetectionMatchers {
    final class Keys {
        let keys: [String]
        init?(_ spec: UnsafeRawBufferPointer) {
            var s = JSONScanner(spec)
            guard let keys = try? s.readStringArray() else { return nil }
            self.keys = keys
        }
    }

    final class Context {
        let control: QueryControl
        init(_ control: QueryControl) { self.control = control }
    }

    static func register(on db: OpaquePointer, control: QueryControl) {
        let flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC
        func add(_ name: String, _ argc: Int32, _ body: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void) {
            let box = Unmanaged.passRetained(Context(control)).toOpaque()
            sqlite3_create_function_v2(db, name, argc, flags, box, body, nil, nil, { p in if let p { Unmanaged<Context>.fromOpaque(p).release() } })
        }
        add("kubetrail_text_any", 2) { context, _, argv in
            DetectionMatchers.call(context!) { ctx in
                guard let patterns = try DetectionMatchers.patterns(context!, argv![1], 1) else { return false }
                guard let value = DetectionMatchers.bytes(argv![0]) else { return false }
                return try patterns.matches(value, shouldStop: { ctx.control.stopped })
            }
        }
        add("kubetrail_list_any", 2) { context, _, argv in
            DetectionMatchers.call(context!) { ctx in
                guard let patterns = try DetectionMatchers.patterns(context!, argv![1], 1) else { return false }
                guard let list = DetectionMatchers.bytes(argv![0]) else { return false }
                return try DetectionMatchers.anyString(in: list, patterns, ctx.control)
            }
        }
        add("kubetrail_json_text_any", 3) { context, _, argv in
            DetectionMatchers.call(context!) { ctx in
                guard let keys = try DetectionMatchers.keys(context!, argv![1], 1), let patterns = try DetectionMatchers.patterns(context!, argv![2], 2) else {
                    return false
                }
                guard let document = DetectionMatchers.bytes(argv![0]) else { return false }
                for r in try DetectionMatchers.values(document, keys) where document[r.lowerBound] == UInt8(ascii: "\"") {
                    if try DetectionMatchers.stringMatches(UnsafeRawBufferPointer(rebasing: document[r]), patterns, ctx.control) { return true }
                }
                return false
            }
        }
        add("kubetrail_json_bool", 3) { context, _, argv in
            DetectionMatchers.call(context!) { _ in
                guard let keys = try DetectionMatchers.keys(context!, argv![1], 1) else { return false }
                guard let document = DetectionMatchers.bytes(argv![0]) else { return false }
                let wanted: [UInt8] = sqlite3_value_int(argv![2]) != 0 ? Array("true".utf8) : Array("false".utf8)
                return try DetectionMatchers.values(document, keys).contains { document[$0].elementsEqual(wanted) }
            }
        }
    }

    struct Failure: Error { var message: String }

    /// Runs a test and sets its result: 1, 0, or the error.
    static func call(_ context: OpaquePointer, _ body: (Context) throws -> Bool) {
        let ctx = Unmanaged<Context>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
        if ctx.control.stopped { return sqlite3_result_error(context, QueryControl.timeLimitMessage, -1) }
        do {
            sqlite3_result_int(context, try body(ctx) ? 1 : 0)
        } catch let f as Failure {
            sqlite3_result_error(context, f.message, -1)
        } catch {
            sqlite3_result_error(context, QueryControl.timeLimitMessage, -1)
        }
    }

    static func bytes(_ v: OpaquePointer?) -> UnsafeRawBufferPointer? {
        guard sqlite3_value_type(v) != SQLITE_NULL, let p = sqlite3_value_text(v) else { return nil }
        return UnsafeRawBufferPointer(start: p, count: Int(sqlite3_value_bytes(v)))
    }

    /// The argument's compiled form, kept by SQLite for the statement while the argument is constant.
    static func cached<T: AnyObject>(_ context: OpaquePointer, _ index: Int32, _ make: () -> T?) -> T? {
        if let p = sqlite3_get_auxdata(context, index) { return Unmanaged<T>.fromOpaque(p).takeUnretainedValue() }
        guard let made = make() else { return nil }
        sqlite3_set_auxdata(
            context, index, Unmanaged.passRetained(made).toOpaque(),
            { p in
                if let p { Unmanaged<AnyObject>.fromOpaque(p).release() }
            })
        return made
    }

    static func patterns(_ context: OpaquePointer, _ v: OpaquePointer?, _ index: Int32) throws -> CaselessPatterns? {
        guard let spec = bytes(v) else { return nil }
        guard let p = cached(context, index, { CaselessPatterns(json: spec) }) else {
            throw Failure(message: "detection patterns must be a JSON array of LIKE patterns")
        }
        return p
    }

    static func keys(_ context: OpaquePointer, _ v: OpaquePointer?, _ index: Int32) throws -> Keys? {
        guard let spec = bytes(v) else { return nil }
        guard let k = cached(context, index, { Keys(spec) }) else { throw Failure(message: "a JSON path must be a JSON array of keys") }
        return k
    }

    static func values(_ document: UnsafeRawBufferPointer, _ keys: Keys) throws -> [Range<Int>] {
        do { return try JSONLaxPath.values(in: document, path: keys.keys) } catch {
            throw Failure(message: "the value is not JSON (\(error))")
        }
    }

    /// A JSON string token (with its quotes) against the patterns.
    static func stringMatches(_ token: UnsafeRawBufferPointer, _ patterns: CaselessPatterns, _ control: QueryControl) throws -> Bool {
        try patterns.matches(jsonString: token, shouldStop: { control.stopped })
    }

    /// Any string element of a JSON array (a list column) matching.
    static func anyString(in list: UnsafeRawBufferPointer, _ patterns: CaselessPatterns, _ control: QueryControl) throws -> Bool {
        do { return try patterns.matches(anyStringIn: list, shouldStop: { control.stopped }) } catch let e as CaselessPatterns.NotAList {
            throw Failure(message: e.description)
        }
    }
}
