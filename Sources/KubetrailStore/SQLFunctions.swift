import Foundation
import KubetrailTables

/// What the dialect's SQL functions (registered in `RawFunctions`) compute.
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
                let weekday = ((days % 7) + 7 + 3) % 7  // 0 = Monday
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
            let t = Timestamp(rfc3339: text + "Z")
        {
            return t
        }
        return nil
    }
}

/// SQL LIKE matching with `%` and `_`, case-insensitive (for ILIKE).
enum LikePattern {
    /// Kept from when matching could not be interrupted: operands past this still get an error,
    /// which says why better than a time limit reached later.
    static let maxWork = 50_000_000

    static func check(value: String, pattern: String) throws {
        if value.utf8.count * max(1, pattern.utf8.count) > maxWork {
            throw LikeTooLong()
        }
    }

    struct LikeTooLong: Error, CustomStringConvertible {
        var description: String { "ILIKE operands too long (value length × pattern length over \(LikePattern.maxWork))" }
    }

    static func matches(
        value: String, pattern: String, escape: Character?,
        shouldStop: () -> Bool = { false }
    ) throws -> Bool {
        let compiled = WildcardPattern(pattern.lowercased().utf8, syntax: .like(escape: escape.map { Array(String($0).lowercased().utf8) }))
        var lowered = value.lowercased()
        return try lowered.withUTF8 { try compiled.matches($0, shouldStop: shouldStop) }
    }
}
