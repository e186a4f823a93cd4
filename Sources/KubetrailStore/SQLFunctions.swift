import Foundation
import GRDB
import KubetrailTables

/// SQL functions that make the product README's PostgreSQL/DuckDB-flavoured queries run here.
enum SQLFunctions {
    static func register(in db: Database) {
        db.add(function: tsAdd)
        db.add(function: dateTrunc)
        db.add(function: ilike2)
        db.add(function: ilike3)
    }

    /// `kt_ts_add(ts, microseconds)`: what `ts ± INTERVAL '…'` becomes when `ts` is not a literal.
    static let tsAdd = DatabaseFunction("kt_ts_add", argumentCount: 2, pure: true) { args in
        guard let text = String.fromDatabaseValue(args[0]) else { return nil }
        guard let delta = Int64.fromDatabaseValue(args[1]) else { return nil }
        guard let t = TimestampLiteral.parse(text) else {
            throw DatabaseError(message: "invalid timestamp '\(text.prefix(40))' in interval arithmetic")
        }
        let result = t.adding(microseconds: delta)
        guard result.isWithinTextRange else { throw DatabaseError(message: "timestamp arithmetic outside the years 0000–9999") }
        return result.iso8601
    }

    /// `date_trunc('hour', ts)` as in PostgreSQL and DuckDB.
    static let dateTrunc = DatabaseFunction("date_trunc", argumentCount: 2, pure: true) { args in
        guard let unitText = String.fromDatabaseValue(args[0]) else { return nil }
        guard let text = String.fromDatabaseValue(args[1]) else { return nil }
        guard let unit = TruncationUnit(rawValue: unitText.lowercased()) else {
            throw DatabaseError(message: "date_trunc: unknown unit '\(unitText)' (use microseconds, milliseconds, second, minute, hour, day, week, month, quarter or year)")
        }
        guard let t = TimestampLiteral.parse(text) else {
            throw DatabaseError(message: "date_trunc: invalid timestamp '\(text.prefix(40))'")
        }
        return unit.truncate(t).iso8601
    }

    // `X ILIKE Y` is rewritten to `X MATCH Y`, which SQLite sends to `match(Y, X)`; LIKE itself
    // is made case-sensitive (PRAGMA case_sensitive_like) so both keep PostgreSQL semantics.
    static let ilike2 = DatabaseFunction("match", argumentCount: 2, pure: true) { args in
        guard let pattern = String.fromDatabaseValue(args[0]), let value = String.fromDatabaseValue(args[1]) else { return nil }
        do { try LikePattern.check(value: value, pattern: pattern) } catch { throw DatabaseError(message: "\(error)") }
        return LikePattern.matches(value: value, pattern: pattern, escape: nil)
    }

    static let ilike3 = DatabaseFunction("match", argumentCount: 3, pure: true) { args in
        guard let pattern = String.fromDatabaseValue(args[0]), let value = String.fromDatabaseValue(args[1]) else { return nil }
        do { try LikePattern.check(value: value, pattern: pattern) } catch { throw DatabaseError(message: "\(error)") }
        return LikePattern.matches(value: value, pattern: pattern, escape: String.fromDatabaseValue(args[2])?.first)
    }
}

enum TruncationUnit: String {
    case microseconds, milliseconds, second, minute, hour, day, week, month, quarter, year
    case seconds, minutes, hours, days, weeks, months, quarters, years

    func truncate(_ t: Timestamp) -> Timestamp {
        var c = t.civil
        switch self {
        case .microseconds: return t
        case .milliseconds: c.microsecond -= c.microsecond % 1000
        case .second, .seconds: c.microsecond = 0
        case .minute, .minutes: c.microsecond = 0; c.second = 0
        case .hour, .hours: c.microsecond = 0; c.second = 0; c.minute = 0
        case .day, .days, .week, .weeks:
            c.microsecond = 0; c.second = 0; c.minute = 0; c.hour = 0
            if self == .week || self == .weeks {
                // ISO weeks start on Monday; 1970-01-01 was a Thursday.
                let days = Timestamp(civil: c).microseconds / 86_400_000_000
                let weekday = ((days % 7) + 7 + 3) % 7   // 0 = Monday
                return Timestamp(microseconds: (days - weekday) * 86_400_000_000)
            }
        case .month, .months: c.microsecond = 0; c.second = 0; c.minute = 0; c.hour = 0; c.day = 1
        case .quarter, .quarters: c.microsecond = 0; c.second = 0; c.minute = 0; c.hour = 0; c.day = 1; c.month = (c.month - 1) / 3 * 3 + 1
        case .year, .years: c.microsecond = 0; c.second = 0; c.minute = 0; c.hour = 0; c.day = 1; c.month = 1
        }
        return Timestamp(civil: c)
    }
}

/// Timestamps as they appear in SQL text and stored columns.
enum TimestampLiteral {
    /// RFC 3339, or `YYYY-MM-DD[ HH:MM:SS[.f]]` without a zone (taken as UTC, as stored).
    static func parse(_ text: String) -> Timestamp? {
        if let t = Timestamp(rfc3339: text) { return t }
        if text.count == 10, let t = Timestamp(rfc3339: text + "T00:00:00Z") { return t }
        if text.count >= 19, !text.hasSuffix("Z"), !text.dropFirst(19).contains("+"), !text.dropFirst(19).contains("-"),
           let t = Timestamp(rfc3339: text + "Z") { return t }
        return nil
    }
}

/// SQL LIKE matching with `%` and `_`, case-insensitive (for ILIKE).
enum LikePattern {
    /// Matching is O(value × pattern) in the worst case and runs inside one SQLite call, where
    /// the query's time limit cannot interrupt it: so the operands are bounded.
    static let maxWork = 50_000_000

    static func check(value: String, pattern: String) throws {
        if value.utf8.count * max(1, pattern.utf8.count) > maxWork {
            throw LikeTooLong()
        }
    }

    struct LikeTooLong: Error, CustomStringConvertible {
        var description: String { "ILIKE operands too long (value length × pattern length over \(LikePattern.maxWork))" }
    }

    static func matches(value: String, pattern: String, escape: Character?) -> Bool {
        let v = Array(value.lowercased()), p = Array(pattern.lowercased())
        // Iterative wildcard matching with backtracking to the last `%`.
        var vi = 0, pi = 0
        var starP = -1, starV = 0
        while vi < v.count {
            if pi < p.count, let e = escape, p[pi] == e, pi + 1 < p.count {
                if p[pi + 1] == v[vi] { pi += 2; vi += 1; continue }
            } else if pi < p.count, p[pi] == "%" {
                starP = pi; starV = vi; pi += 1; continue
            } else if pi < p.count, p[pi] == "_" || p[pi] == v[vi] {
                pi += 1; vi += 1; continue
            }
            guard starP >= 0 else { return false }
            pi = starP + 1
            starV += 1
            vi = starV
        }
        while pi < p.count, p[pi] == "%" { pi += 1 }
        return pi == p.count
    }
}
