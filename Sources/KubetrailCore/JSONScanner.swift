/// A validating, allocation-light JSON reader over raw bytes.
///
/// Foundation's parsers build a whole object tree (19–37 MB/s here); the normalizers only need a
/// few dozen fields per audit event and keep large bodies as text, so they walk the bytes once,
/// decode the strings they keep and validate-and-skip everything else.
public struct JSONScanner {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var position: Int
    /// Nesting beyond this is rejected rather than risking the stack on hostile input.
    public static let maxDepth = 200

    public init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    public var isAtEnd: Bool { position >= bytes.count }

    // MARK: Tokens

    @inline(__always)
    public mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    @inline(__always)
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < bytes.count ? bytes[position] : nil
    }

    @inline(__always)
    mutating func expect(_ byte: UInt8) throws(JSONError) {
        skipWhitespace()
        guard position < bytes.count else { throw .unexpectedEnd(position) }
        guard bytes[position] == byte else { throw .unexpectedByte(bytes[position], position) }
        position += 1
    }

    /// Reads a string token; `position` must be at (or whitespace before) its opening quote.
    public mutating func readStringToken() throws(JSONError) -> JSONStringToken {
        try expect(0x22)
        let start = position
        var escaped = false
        let count = bytes.count
        while position < count {
            let c = bytes[position]
            if c == 0x22 {
                let token = JSONStringToken(range: start..<position, hasEscapes: escaped)
                position += 1
                return token
            }
            if c == 0x5C {
                escaped = true
                position += 1
                guard position < count else { throw .unexpectedEnd(position) }
                switch bytes[position] {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: position += 1
                case 0x75:
                    guard position + 4 < count else { throw .unexpectedEnd(position) }
                    for k in 1...4 where hexValue(bytes[position + k]) == nil { throw .invalidEscape(position) }
                    position += 5
                default: throw .invalidEscape(position)
                }
                continue
            }
            if c < 0x20 { throw .controlCharacterInString(position) }
            position += 1
        }
        throw .unexpectedEnd(position)
    }

    public func string(_ token: JSONStringToken) -> String {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[token.range])
        guard token.hasEscapes else { return String(decoding: slice, as: UTF8.self) }
        return JSONScanner.unescape(slice)
    }

    /// Compares a key or string token with ASCII text, without allocating unless the token holds
    /// escapes (`"authorization.k8s.io\/decision"` is the same key as the unescaped one).
    @inline(__always)
    public func token(_ token: JSONStringToken, equals literal: StaticString) -> Bool {
        if token.hasEscapes {
            return string(token).utf8.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
        }
        guard token.range.count == literal.utf8CodeUnitCount else { return false }
        let p = literal.utf8Start
        var i = 0
        var j = token.range.lowerBound
        while i < literal.utf8CodeUnitCount {
            if p[i] != bytes[j] { return false }
            i += 1; j += 1
        }
        return true
    }

    // MARK: Containers

    /// Consumes `{`; then call `nextKey` until it returns nil.
    public mutating func enterObject() throws(JSONError) { try expect(0x7B) }

    /// The next member's key (with its `:` consumed), or nil after consuming the closing `}`.
    public mutating func nextKey(_ first: inout Bool) throws(JSONError) -> JSONStringToken? {
        skipWhitespace()
        guard position < bytes.count else { throw .unexpectedEnd(position) }
        if bytes[position] == 0x7D { position += 1; return nil }
        if first { first = false } else { try expect(0x2C) }
        let key = try readStringToken()
        try expect(0x3A)
        return key
    }

    public mutating func enterArray() throws(JSONError) { try expect(0x5B) }

    /// True when another element follows (its leading `,` consumed); false after the closing `]`.
    public mutating func nextElement(_ first: inout Bool) throws(JSONError) -> Bool {
        skipWhitespace()
        guard position < bytes.count else { throw .unexpectedEnd(position) }
        if bytes[position] == 0x5D { position += 1; return false }
        if first { first = false } else { try expect(0x2C) }
        return true
    }

    // MARK: Values

    /// Validates and skips one value, returning its byte range.
    @discardableResult
    public mutating func skipValue(depth: Int = 0) throws(JSONError) -> Range<Int> {
        guard depth < JSONScanner.maxDepth else { throw .tooDeep(position) }
        skipWhitespace()
        guard position < bytes.count else { throw .unexpectedEnd(position) }
        let start = position
        switch bytes[position] {
        case 0x22: _ = try readStringToken()
        case 0x7B:
            position += 1
            var first = true
            while try nextKey(&first) != nil { try skipValue(depth: depth + 1) }
        case 0x5B:
            position += 1
            var first = true
            while try nextElement(&first) { try skipValue(depth: depth + 1) }
        case 0x74: try literal("true")
        case 0x66: try literal("false")
        case 0x6E: try literal("null")
        case 0x2D, 0x30...0x39: try number()
        default: throw .unexpectedByte(bytes[position], position)
        }
        return start..<position
    }

    /// True (and consumed) when the next value is `null`.
    public mutating func consumeNull() throws(JSONError) -> Bool {
        guard peek() == 0x6E else { return false }
        try literal("null")
        return true
    }

    /// A string value, nil for `null`; any other type is an error.
    public mutating func readString() throws(JSONError) -> String? {
        switch peek() {
        case 0x22: return string(try readStringToken())
        case 0x6E: try literal("null"); return nil
        case let c?: throw .typeMismatch(expected: "string", c, position)
        case nil: throw .unexpectedEnd(position)
        }
    }

    /// An integer value, nil for `null`.
    public mutating func readInt() throws(JSONError) -> Int64? {
        switch peek() {
        case 0x6E: try literal("null"); return nil
        case .some(0x2D), .some(0x30...0x39):
            let start = position
            try number()
            var v: Int64 = 0
            var negative = false
            for i in start..<position {
                let c = bytes[i]
                if c == 0x2D { negative = true; continue }
                guard c >= 0x30, c <= 0x39 else { throw .typeMismatch(expected: "integer", c, i) }
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(c - 0x30))
                if o1 || o2 { throw .typeMismatch(expected: "integer", c, i) }
                v = a
            }
            return negative ? -v : v
        case let c?: throw .typeMismatch(expected: "integer", c, position)
        case nil: throw .unexpectedEnd(position)
        }
    }

    /// An array of strings (null → nil); non-string elements are an error.
    public mutating func readStringArray() throws(JSONError) -> [String]? {
        if try consumeNull() { return nil }
        try enterArray()
        var out: [String] = []
        var first = true
        while try nextElement(&first) {
            guard let s = try readString() else { continue }
            out.append(s)
        }
        return out
    }

    /// The raw text of a value (object, array, …) or nil for `null`.
    public mutating func readRawValue() throws(JSONError) -> String? {
        if try consumeNull() { return nil }
        let range = try skipValue()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    // MARK: Lexing helpers

    private mutating func literal(_ text: StaticString) throws(JSONError) {
        let n = text.utf8CodeUnitCount
        guard position + n <= bytes.count else { throw .unexpectedEnd(bytes.count) }
        for i in 0..<n where bytes[position + i] != text.utf8Start[i] {
            throw .unexpectedByte(bytes[position + i], position + i)
        }
        position += n
    }

    private mutating func number() throws(JSONError) {
        let count = bytes.count
        @inline(__always) func isDigit(_ i: Int) -> Bool { i < count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        if bytes[position] == 0x2D { position += 1 }
        guard isDigit(position) else { throw position < count ? .unexpectedByte(bytes[position], position) : .unexpectedEnd(position) }
        if bytes[position] == 0x30 { position += 1 } else { while isDigit(position) { position += 1 } }
        if position < count, bytes[position] == 0x2E {
            position += 1
            guard isDigit(position) else { throw .invalidNumber(position) }
            while isDigit(position) { position += 1 }
        }
        if position < count, bytes[position] == 0x65 || bytes[position] == 0x45 {
            position += 1
            if position < count, bytes[position] == 0x2B || bytes[position] == 0x2D { position += 1 }
            guard isDigit(position) else { throw .invalidNumber(position) }
            while isDigit(position) { position += 1 }
        }
    }

    static func unescape(_ s: UnsafeRawBufferPointer) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        let n = s.count
        func appendScalar(_ v: UInt32) {
            let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        while i < n {
            let c = s[i]
            guard c == 0x5C, i + 1 < n else { out.append(c); i += 1; continue }
            let e = s[i + 1]
            i += 2
            switch e {
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard i + 4 <= n, let hi = hex4(s, i) else { out.append(0x3F); continue }
                i += 4
                if (0xD800..<0xDC00).contains(hi), i + 6 <= n, s[i] == 0x5C, s[i + 1] == 0x75,
                    let lo = hex4(s, i + 2), (0xDC00..<0xE000).contains(lo)
                {
                    i += 6
                    appendScalar(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                } else if hi < 0x80 {
                    out.append(UInt8(hi))
                } else {
                    appendScalar(hi)  // lone surrogates become U+FFFD
                }
            default: out.append(e)  // \" \\ \/
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex4(_ s: UnsafeRawBufferPointer, _ i: Int) -> UInt32? {
        var v: UInt32 = 0
        for k in i..<(i + 4) { guard let h = hexValue(s[k]) else { return nil }; v = v << 4 | UInt32(h) }
        return v
    }
}

@inline(__always)
func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x41...0x46: return c - 0x41 + 10
    case 0x61...0x66: return c - 0x61 + 10
    default: return nil
    }
}

public struct JSONStringToken: Sendable, Equatable {
    /// Bytes between the quotes, still escaped.
    public var range: Range<Int>
    public var hasEscapes: Bool
}

public enum JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    case unexpectedEnd(Int)
    case unexpectedByte(UInt8, Int)
    case invalidEscape(Int)
    case controlCharacterInString(Int)
    case invalidNumber(Int)
    case tooDeep(Int)
    case typeMismatch(expected: String, UInt8, Int)
    case trailingData(Int)

    public var description: String {
        func show(_ b: UInt8) -> String {
            b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
        }
        switch self {
        case .unexpectedEnd(let at): return "invalid JSON: unexpected end of input at byte \(at)"
        case .unexpectedByte(let b, let at): return "invalid JSON: unexpected \(show(b)) at byte \(at)"
        case .invalidEscape(let at): return "invalid JSON: bad escape sequence at byte \(at)"
        case .controlCharacterInString(let at): return "invalid JSON: control character inside a string at byte \(at)"
        case .invalidNumber(let at): return "invalid JSON: malformed number at byte \(at)"
        case .tooDeep(let at): return "invalid JSON: nested deeper than \(JSONScanner.maxDepth) levels at byte \(at)"
        case .typeMismatch(let expected, let b, let at): return "invalid JSON field: expected \(expected), found \(show(b)) at byte \(at)"
        case .trailingData(let at): return "invalid JSON: unexpected data after the value at byte \(at)"
        }
    }
}
