/// Parses the timestamps Kubernetes and container runtimes write: RFC 3339 with any number of
/// fractional digits (0–9, nanoseconds truncated to microseconds), `Z`/`z` or a `±HH:MM`
/// offset (also `±HHMM`), and a space instead of `T`. Anything else is rejected, never guessed.
extension Timestamp {
    public init?(rfc3339 text: String) {
        var text = text
        let parsed: Timestamp? = text.withUTF8 { Timestamp.parse(UnsafeRawBufferPointer($0)) }
        guard let parsed else { return nil }
        self = parsed
    }

    public init?<C: Collection>(rfc3339Bytes bytes: C) where C.Element == UInt8 {
        let parsed: Timestamp?? = bytes.withContiguousStorageIfAvailable { Timestamp.parse(UnsafeRawBufferPointer($0)) }
        if let parsed {
            guard let parsed else { return nil }
            self = parsed
        } else {
            let copy = Array(bytes)
            guard let value = copy.withUnsafeBytes({ Timestamp.parse($0) }) else { return nil }
            self = value
        }
    }

    public static func parse(_ b: UnsafeRawBufferPointer) -> Timestamp? {
        let n = b.count
        guard n >= 19 else { return nil }
        @inline(__always) func digit(_ i: Int) -> Int64? {
            let c = b[i]
            return c >= 48 && c <= 57 ? Int64(c - 48) : nil
        }
        @inline(__always) func num(_ i: Int, _ width: Int) -> Int64? {
            var v: Int64 = 0
            for k in i..<(i + width) { guard let d = digit(k) else { return nil }; v = v * 10 + d }
            return v
        }
        guard let year = num(0, 4), b[4] == 45, let month = num(5, 2), b[7] == 45, let day = num(8, 2),
            b[10] == 84 || b[10] == 116 || b[10] == 32,
            let hour = num(11, 2), b[13] == 58, let minute = num(14, 2), b[16] == 58, let second = num(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month),
            hour < 24, minute < 60, second <= 60
        else { return nil }
        var i = 19
        var micro: Int64 = 0
        if i < n, b[i] == 46 || b[i] == 44 {
            i += 1
            var digits = 0
            while i < n, let d = digit(i) {
                if digits < 6 { micro = micro * 10 + d }
                digits += 1; i += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 6)..<6 { micro *= 10 }
        }
        guard i < n else { return nil }
        var offsetSeconds: Int64 = 0
        switch b[i] {
        case 90, 122: i += 1
        case 43, 45:
            let sign: Int64 = b[i] == 45 ? -1 : 1
            i += 1
            guard i + 2 <= n, let oh = num(i, 2) else { return nil }
            i += 2
            if i < n, b[i] == 58 { i += 1 }
            guard i + 2 <= n, let om = num(i, 2), oh < 24, om < 60 else { return nil }
            i += 2
            offsetSeconds = sign * (oh * 3600 + om * 60)
        default: return nil
        }
        guard i == n else { return nil }
        // A leap second is folded into the next second, as Go's time package would reject it anyway.
        let days = daysFromCivil(year, month, day)
        let secs = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) + (second == 60 ? 1 : 0) - offsetSeconds
        return Timestamp(microseconds: secs * 1_000_000 + micro)
    }
}
