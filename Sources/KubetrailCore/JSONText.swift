/// Writes JSON text for the values we synthesise (lists, small objects); bodies that arrive as
/// JSON are stored as they came and never pass through here.
public enum JSONText {
    public static func string(_ s: String) -> String {
        var out = "\""
        appendEscaped(s, to: &out)
        out += "\""
        return out
    }

    public static func array(_ items: [String]) -> String {
        var out = "["
        for (i, item) in items.enumerated() {
            if i > 0 { out += "," }
            out += "\""
            appendEscaped(item, to: &out)
            out += "\""
        }
        out += "]"
        return out
    }

    public static func object(_ pairs: [(String, String)]) -> String {
        var out = "{"
        for (i, (k, v)) in pairs.enumerated() {
            if i > 0 { out += "," }
            out += string(k) + ":" + string(v)
        }
        return out + "}"
    }

    public static func appendEscaped(_ s: String, to out: inout String) {
        var needs = false
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C { needs = true; break }
        guard needs else { out += s; return }
        var bytes: [UInt8] = []
        appendEscaped(s, to: &bytes)
        out += String(decoding: bytes, as: UTF8.self)
    }

    /// `s` escaped as the inside of a JSON string, appended as UTF-8 bytes: the same text as the
    /// `String` version, without building a `String` per value (the rows format of every row a
    /// follower is sent goes through here). Only ASCII bytes are ever escaped, so the bytes of
    /// a multi-byte character pass through whole.
    public static func appendEscaped(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { bytes in
            var start = 0
            for (i, b) in bytes.enumerated() where b < 0x20 || b == 0x22 || b == 0x5C {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                start = i + 1
                out.append(0x5C)
                switch b {
                case 0x22, 0x5C: out.append(b)
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(b >> 4)], hexDigits[Int(b & 0x0F)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
    }

    /// `s` as a JSON string, quotes included, appended as UTF-8 bytes.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        appendEscaped(s, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
