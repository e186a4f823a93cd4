import Foundation
import GRDBSQLite
import KubetrailCore

/// The functions detections' SQL calls on SQLite, registered on the read-only connection (so
/// `kubetrail query` may call them too); PostgreSQL has `~` and `jsonb_path_query_array` of its
/// own, and `kubetrail_in_cidr` from its schema migration.
///
/// - `regexp(pattern, value)`: what SQLite's `REGEXP` operator calls; ICU's regular expressions,
///   case-sensitive, the match found anywhere in the value (as PostgreSQL's `~`).
/// - `kubetrail_in_cidr(address, network)`: as PostgreSQL's `address::inet <<= network::inet`,
///   false (not an error) when the value is not an address.
/// - `kubetrail_json_values(document, '["key", …]')`: a JSON array of the values the path reaches,
///   stepping into arrays as a `lax` JSON path does (`JSONLaxPath`).
enum DetectionFunctions {
    final class Context {
        let control: QueryControl
        /// Compiled patterns and networks: a query calls these once per row with the same one.
        var patterns: [String: NSRegularExpression] = [:]
        var networks: [String: IPNetwork?] = [:]
        init(_ control: QueryControl) { self.control = control }
    }

    typealias Body = (OpaquePointer, Context, UnsafeMutablePointer<OpaquePointer?>) -> Void

    static func register(on db: OpaquePointer, control: QueryControl) {
        add(db, "regexp", control) { context, ctx, argv in regexp(context, ctx, argv[0], argv[1]) }
        add(db, "kubetrail_in_cidr", control) { context, ctx, argv in inCIDR(context, ctx, argv[0], argv[1]) }
        add(db, "kubetrail_json_values", control) { context, ctx, argv in jsonValues(context, ctx, argv[0], argv[1]) }
    }

    private final class Registration {
        let context: Context
        let body: Body
        init(_ context: Context, _ body: @escaping Body) { self.context = context; self.body = body }
    }

    private static func add(_ db: OpaquePointer, _ name: String, _ control: QueryControl, _ body: @escaping Body) {
        let box = Unmanaged.passRetained(Registration(Context(control), body)).toOpaque()
        sqlite3_create_function_v2(
            db, name, 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, box,
            { context, _, argv in
                let r = Unmanaged<Registration>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
                if r.context.control.stopped { return sqlite3_result_error(context, QueryControl.timeLimitMessage, -1) }
                r.body(context!, r.context, argv!)
            }, nil, nil, { p in if let p { Unmanaged<Registration>.fromOpaque(p).release() } })
    }

    private static func regexp(_ context: OpaquePointer, _ ctx: Context, _ p: OpaquePointer?, _ v: OpaquePointer?) {
        guard let pattern = string(p), let value = string(v) else { return sqlite3_result_null(context) }
        let compiled: NSRegularExpression
        if let cached = ctx.patterns[pattern] {
            compiled = cached
        } else {
            do { compiled = try NSRegularExpression(pattern: pattern) } catch {
                return sqlite3_result_error(context, "regexp: invalid regular expression '\(pattern.prefix(80))'", -1)
            }
            // Bounded: a query whose pattern comes from a column compiles one per row.
            if ctx.patterns.count >= 64 { ctx.patterns.removeAll() }
            ctx.patterns[pattern] = compiled
        }
        // Progress reports let a pattern that backtracks without end be stopped by the time limit.
        var matched = false, stopped = false
        let ns = value as NSString
        compiled.enumerateMatches(in: value, options: [.reportProgress], range: NSRange(location: 0, length: ns.length)) { result, _, stop in
            if result != nil { matched = true; stop.pointee = true } else if ctx.control.stopped { stopped = true; stop.pointee = true }
        }
        if stopped { return sqlite3_result_error(context, QueryControl.timeLimitMessage, -1) }
        sqlite3_result_int(context, matched ? 1 : 0)
    }

    private static func inCIDR(_ context: OpaquePointer, _ ctx: Context, _ a: OpaquePointer?, _ n: OpaquePointer?) {
        guard let address = string(a), let text = string(n) else { return sqlite3_result_null(context) }
        let network: IPNetwork?
        if let cached = ctx.networks[text] {
            network = cached
        } else {
            network = IPNetwork(text)
            if ctx.networks.count >= 64 { ctx.networks.removeAll() }
            ctx.networks[text] = network
        }
        guard let network else { return sqlite3_result_error(context, "kubetrail_in_cidr: '\(text.prefix(80))' is not a network", -1) }
        sqlite3_result_int(context, network.contains(address) ? 1 : 0)
    }

    private static func jsonValues(_ context: OpaquePointer, _ ctx: Context, _ d: OpaquePointer?, _ k: OpaquePointer?) {
        guard let keysText = string(k) else { return sqlite3_result_null(context) }
        guard sqlite3_value_type(d) != SQLITE_NULL, let p = sqlite3_value_text(d) else { return sqlite3_result_text(context, "[]", 2, SQLITE_TRANSIENT_SWIFT) }
        let document = UnsafeRawBufferPointer(start: p, count: Int(sqlite3_value_bytes(d)))
        let keys: [String]
        do {
            keys = try Array(keysText.utf8).withUnsafeBytes { buffer throws(JSONError) in
                var s = JSONScanner(buffer)
                return try s.readStringArray() ?? []
            }
        } catch {
            return sqlite3_result_error(context, "kubetrail_json_values: the path must be a JSON array of keys", -1)
        }
        let ranges: [Range<Int>]
        do { ranges = try JSONLaxPath.values(in: document, path: keys) } catch {
            return sqlite3_result_error(context, "kubetrail_json_values: the value is not JSON (\(error))", -1)
        }
        var out: [UInt8] = [0x5B]
        out.reserveCapacity(ranges.reduce(2) { $0 + $1.count + 1 })
        for (i, r) in ranges.enumerated() {
            if i > 0 { out.append(0x2C) }
            out.append(contentsOf: document[r])
        }
        out.append(0x5D)
        out.withUnsafeBufferPointer { b in
            sqlite3_result_text(context, UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(b.count), SQLITE_TRANSIENT_SWIFT)
        }
    }

    private static func string(_ v: OpaquePointer?) -> String? {
        guard sqlite3_value_type(v) != SQLITE_NULL, let p = sqlite3_value_text(v) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(sqlite3_value_bytes(v))), as: UTF8.self)
    }
}
