#if canImport(Glibc)
import Glibc
#endif

/// A UTC instant with microsecond precision: the unit every table stores.
///
/// Stored and shown as fixed-width `2026-11-27T10:30:45.123456Z`, so text order equals time
/// order and an index on the text column serves range queries.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public init(seconds: Int64, microseconds: Int64 = 0) {
        self.microseconds = seconds * 1_000_000 + microseconds
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    public var description: String { iso8601 }

    public func adding(microseconds delta: Int64) -> Timestamp {
        Timestamp(microseconds: microseconds &+ delta)
    }

    /// Years 0000–9999: what the fixed-width text form can represent (and so compare) exactly.
    public var isWithinTextRange: Bool {
        (-62_167_219_200_000_000...253_402_300_799_999_999).contains(microseconds)
    }

    /// The current time, from the realtime clock.
    public static var now: Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    /// `YYYY-MM-DD`, the `tp_date` of this instant.
    public var date: String { String(iso8601.prefix(10)) }
}

// MARK: - Civil calendar arithmetic (Howard Hinnant's algorithms; valid for the proleptic Gregorian calendar)

@usableFromInline
func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
public func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
    switch m {
    case 2: return isLeap(y) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

extension Timestamp {
    public struct Civil: Equatable, Sendable {
        public var year, month, day, hour, minute, second, microsecond: Int64
    }

    public var civil: Civil {
        let us = microseconds
        var days = us / 86_400_000_000
        var rem = us % 86_400_000_000
        if rem < 0 { rem += 86_400_000_000; days -= 1 }
        let (y, m, d) = civilFromDays(days)
        let secs = rem / 1_000_000
        return Civil(
            year: y, month: m, day: d, hour: secs / 3600, minute: secs / 60 % 60,
            second: secs % 60, microsecond: rem % 1_000_000)
    }

    public init(civil c: Civil) {
        let days = daysFromCivil(c.year, c.month, c.day)
        microseconds = ((days * 86_400 + c.hour * 3600 + c.minute * 60 + c.second) * 1_000_000) + c.microsecond
    }

    /// The canonical text form, always 27 bytes for years 0000–9999.
    public var iso8601: String {
        let c = civil
        return String(unsafeUninitializedCapacity: 27) { buf in
            func put(_ v: Int64, _ width: Int, at index: Int) {
                var v = v
                var i = index + width - 1
                while i >= index { buf[i] = UInt8(truncatingIfNeeded: 48 + v % 10); v /= 10; i -= 1 }
            }
            put(max(0, min(9999, c.year)), 4, at: 0); buf[4] = 45
            put(c.month, 2, at: 5); buf[7] = 45
            put(c.day, 2, at: 8); buf[10] = 84
            put(c.hour, 2, at: 11); buf[13] = 58
            put(c.minute, 2, at: 14); buf[16] = 58
            put(c.second, 2, at: 17); buf[19] = 46
            put(c.microsecond, 6, at: 20); buf[26] = 90
            return 27
        }
    }
}
