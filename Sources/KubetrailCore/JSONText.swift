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
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
    }
}
