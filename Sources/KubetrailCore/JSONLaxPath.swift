/// The values a member path reaches in a JSON document, stepping into arrays as PostgreSQL's
/// `lax` JSON paths do: a key applied to an array applies to each of its elements (one level),
/// and a final array yields its elements. `spec.containers.securityContext.privileged` thus
/// reaches every container's flag, as `lax $.spec.containers.securityContext.privileged[*]` does.
/// Values are returned as their byte ranges in the document, never re-encoded.
public enum JSONLaxPath {
    public static func values(in bytes: UnsafeRawBufferPointer, path: [String]) throws(JSONError) -> [Range<Int>] {
        var scanner = JSONScanner(bytes)
        var found: [Range<Int>] = []
        let keys = path.map { Array($0.utf8) }
        try walk(&scanner, keys[...], mayUnwrap: true, into: &found)
        scanner.skipWhitespace()
        guard scanner.isAtEnd else { throw .trailingData(scanner.position) }
        return found
    }

    private static func walk(_ s: inout JSONScanner, _ keys: ArraySlice<[UInt8]>, mayUnwrap: Bool, into found: inout [Range<Int>]) throws(JSONError) {
        guard let key = keys.first else {
            if s.peek() == 0x5B {
                try s.enterArray()
                var first = true
                while try s.nextElement(&first) { found.append(try s.skipValue()) }
            } else {
                found.append(try s.skipValue())
            }
            return
        }
        switch s.peek() {
        case 0x7B:
            try s.enterObject()
            var first = true
            while let token = try s.nextKey(&first) {
                if matches(token, key, in: s) {
                    try walk(&s, keys.dropFirst(), mayUnwrap: true, into: &found)
                } else {
                    try s.skipValue()
                }
            }
        case 0x5B where mayUnwrap:
            try s.enterArray()
            var first = true
            while try s.nextElement(&first) { try walk(&s, keys, mayUnwrap: false, into: &found) }
        default:
            try s.skipValue()
        }
    }

    private static func matches(_ token: JSONStringToken, _ key: [UInt8], in s: JSONScanner) -> Bool {
        if token.hasEscapes { return Array(s.string(token).utf8) == key }
        guard token.range.count == key.count else { return false }
        var i = token.range.lowerBound
        for b in key {
            if s.bytes[i] != b { return false }
            i += 1
        }
        return true
    }
}
