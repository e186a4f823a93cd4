import GRDBSQLite
import KubetrailTables

/// The dialect's SQL functions on a raw connection (GRDB registers the same ones on its own
/// connections); both call the same Swift implementations.
enum RawFunctions {
    typealias Body = (_ args: [String?], _ control: QueryControl) throws -> String?

    final class Box {
        let body: Body
        let control: QueryControl
        init(_ b: @escaping Body, _ c: QueryControl) { body = b; control = c }
    }

    static func register(on db: OpaquePointer, control: QueryControl) {
        add(db, control, "kt_ts_add", 2) { args, _ in
            guard let text = args[0], let delta = args[1].flatMap({ Int64($0) }) else { return nil }
            guard let t = TimestampLiteral.parse(text) else { throw FunctionError("invalid timestamp '\(text.prefix(40))' in interval arithmetic") }
            let result = t.adding(microseconds: delta)
            guard result.isWithinTextRange else { throw FunctionError("timestamp arithmetic outside the years 0000–9999") }
            return result.iso8601
        }
        add(db, control, "date_trunc", 2) { args, _ in
            guard let unitText = args[0], let text = args[1] else { return nil }
            guard let unit = TruncationUnit(rawValue: unitText.lowercased()) else {
                throw FunctionError(
                    "date_trunc: unknown unit '\(unitText)' (use microseconds, milliseconds, second, minute, hour, day, week, month, quarter or year)")
            }
            guard let t = TimestampLiteral.parse(text) else { throw FunctionError("date_trunc: invalid timestamp '\(text.prefix(40))'") }
            return unit.truncate(t).iso8601
        }
        for argc: Int32 in [2, 3] {
            add(db, control, "match", argc) { args, control in
                guard let pattern = args[0], let value = args[1] else { return nil }
                do { try LikePattern.check(value: value, pattern: pattern) } catch { throw FunctionError("\(error)") }
                let matched = try LikePattern.matches(
                    value: value, pattern: pattern, escape: args.count > 2 ? args[2]?.first : nil,
                    shouldStop: { control.stopped })
                return matched ? "1" : "0"
            }
        }
    }

    struct FunctionError: Error { var message: String; init(_ m: String) { message = m } }

    private static func add(_ db: OpaquePointer, _ control: QueryControl, _ name: String, _ argc: Int32, _ body: @escaping Body) {
        let box = Unmanaged.passRetained(Box(body, control)).toOpaque()
        sqlite3_create_function_v2(
            db, name, argc, SQLITE_UTF8 | SQLITE_DETERMINISTIC, box,
            { context, argc, argv in
                let box = Unmanaged<Box>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
                // A row may call these thousands of times with no loop for SQLite to check its limits.
                if box.control.stopped { return sqlite3_result_error(context, QueryControl.timeLimitMessage, -1) }
                var args: [String?] = []
                for i in 0..<Int(argc) {
                    let v = argv![i]
                    if sqlite3_value_type(v) == SQLITE_NULL { args.append(nil); continue }
                    args.append(sqlite3_value_text(v).map { String(cString: $0) })
                }
                do {
                    if let result = try box.body(args, box.control) {
                        sqlite3_result_text(context, result, -1, SQLITE_TRANSIENT_SWIFT)
                    } else {
                        sqlite3_result_null(context)
                    }
                } catch let error as FunctionError {
                    sqlite3_result_error(context, error.message, -1)
                } catch is WildcardPattern.Stopped {
                    sqlite3_result_error(context, QueryControl.timeLimitMessage, -1)
                } catch {
                    sqlite3_result_error(context, "\(error)", -1)
                }
            }, nil, nil, { p in if let p { Unmanaged<Box>.fromOpaque(p).release() } })
    }
}
