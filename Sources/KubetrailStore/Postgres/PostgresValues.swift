#if canImport(Glibc)
import Glibc
#endif
import KubetrailTables

/// How the table contract's values travel to and from PostgreSQL's text format.
///
/// Rows go in by COPY as text; lists (JSON arrays in the contract) become `text[]` literals.
/// Coming back, every value is turned into what the contract says it is — timestamps in the
/// fixed-width `2026-11-27T10:30:45.123456Z`, lists as the JSON array text they were built
/// from, booleans as 1/0 — so an audit row hashes the same read from PostgreSQL as it did
/// when it was written, and output formats print both backends alike.
enum PostgresValues {
    // MARK: Type OIDs (pg_type.dat): stable across versions.
    static let boolOID: UInt32 = 16, byteaOID: UInt32 = 17, int8OID: UInt32 = 20, int2OID: UInt32 = 21, int4OID: UInt32 = 23
    static let oidOID: UInt32 = 26, jsonOID: UInt32 = 114, float4OID: UInt32 = 700, float8OID: UInt32 = 701
    static let textArrayOID: UInt32 = 1009, varcharArrayOID: UInt32 = 1015, timestampOID: UInt32 = 1114
    static let timestamptzOID: UInt32 = 1184, numericOID: UInt32 = 1700, jsonbOID: UInt32 = 3802
    static let textOID: UInt32 = 25, varcharOID: UInt32 = 1043, dateOID: UInt32 = 1082

    /// PostgreSQL text cannot hold NUL: it is stored as U+FFFD (and the row hashed as stored).
    static let nulReplacement = "\u{FFFD}"

    /// The SQL type of a contract column. The audit table's JSON stays `json` (its exact text),
    /// because the audit chain hashes those bytes; `jsonb` would reorder keys and respace.
    static func sqlType(_ type: ColumnType, audit: Bool) -> String {
        switch type {
        case .text: return "text"
        case .int: return "bigint"
        case .bool: return "boolean"
        case .timestamp: return "timestamptz"
        case .date: return "date"
        case .json: return audit ? "json" : "jsonb"
        case .list: return "text[]"
        }
    }

    // MARK: Into PostgreSQL

    /// Makes `values` storable: NUL in text becomes U+FFFD, `\u0000` and unpaired surrogate
    /// escapes in JSON become `\ufffd` (jsonb refuses them). Nil when nothing had to change.
    static func storable(_ values: [ColumnValue], _ columns: [Column]) -> [ColumnValue]? {
        var out: [ColumnValue]?
        for (i, (value, column)) in zip(values, columns).enumerated() {
            guard case .text(let s) = value else { continue }
            var fixed: String?
            if Bytes.contains(s, 0) { fixed = s.replacingOccurrences(of: "\u{0}", with: nulReplacement) }
            if column.type == .json, let json = JSONEscapes.storable(fixed ?? s) { fixed = json }
            // Year 0 is in the contract's range but not PostgreSQL's: stored as the first instant it has.
            if s.hasPrefix("0000-"), column.type == .timestamp || column.type == .date {
                fixed = column.type == .date ? "0001-01-01" : "0001-01-01T00:00:00.000000Z"
            }
            // A list's elements are what is stored (text[]) and read back (re-encoded): the NUL
            // is replaced in them, and the list re-encoded as it will read back.
            if column.type == .list, JSONEscapes.hasEscapedNUL(s), let elements = JSONArrayText.strings(s) {
                fixed = JSONText.array(elements.map { $0.replacingOccurrences(of: "\u{0}", with: nulReplacement) })
            }
            if let fixed {
                if out == nil { out = values }
                out![i] = .text(fixed)
            }
        }
        return out
    }

    /// One value as COPY text (nil is NULL).
    static func copyText(_ value: ColumnValue, _ type: ColumnType) throws -> String? {
        switch value {
        case .null: return nil
        case .int(let i): return String(i)
        case .bool(let b): return b ? "t" : "f"
        case .text(let s):
            guard type == .list else { return s }
            guard let elements = JSONArrayText.strings(s) else { throw StoreError.sql("a list column holds \(s.prefix(80)), not a JSON array of strings") }
            return arrayLiteral(elements)
        }
    }

    /// `{"a","b"}`: every element quoted, so none reads as NULL or splits on a comma.
    static func arrayLiteral(_ elements: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(elements.reduce(2) { $0 + $1.utf8.count + 3 })
        for (i, e) in elements.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for b in e.utf8 {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(b)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `\x…`, bytea's hex input form.
    static func byteaText(_ bytes: [UInt8]) -> String { "\\x" + Hex.encode(bytes) }

    // MARK: Out of PostgreSQL

    /// A value read back, as the contract has it (see the type's comment).
    static func value(_ row: PostgresRow, _ i: Int, type: UInt32) -> QueryValue {
        guard !row.isNull(i) else { return .null }
        let bytes = row.bytes(i)
        switch type {
        case boolOID: return .int(bytes.first == UInt8(ascii: "t") ? 1 : 0)
        case int8OID, int4OID, int2OID, oidOID:
            return Int64(String(decoding: bytes, as: UTF8.self)).map { .int($0) } ?? .text(String(decoding: bytes, as: UTF8.self))
        case float4OID, float8OID, numericOID:
            let s = String(decoding: bytes, as: UTF8.self)
            return Double(s).map { .real($0) } ?? .text(s)
        case timestamptzOID, timestampOID: return .text(timestamp(bytes))
        case textArrayOID, varcharArrayOID:
            guard let elements = ArrayLiteral.parse(bytes) else { return .text(String(decoding: bytes, as: UTF8.self)) }
            return .text(JSONText.array(elements.map { $0 ?? "" }))
        case byteaOID: return .blob(Hex.decode(String(decoding: bytes.dropFirst(2), as: UTF8.self)) ?? Array(bytes))
        default: return .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// The declared type output formats look at (`QueryColumn.isJSON`, `isBoolean`), named as
    /// SQLite declares the same table column (`SchemaSQL`), so a `rows` stream's header is the
    /// same on both backends.
    static func declaredType(_ type: UInt32) -> String? {
        switch type {
        case jsonOID, jsonbOID: return ColumnType.json.sqliteDeclaration
        case textArrayOID, varcharArrayOID: return ColumnType.list.sqliteDeclaration
        case boolOID: return ColumnType.bool.sqliteDeclaration
        case timestamptzOID, timestampOID: return ColumnType.timestamp.sqliteDeclaration
        case int2OID, int4OID, int8OID: return ColumnType.int.sqliteDeclaration
        case dateOID: return ColumnType.date.sqliteDeclaration
        case textOID, varcharOID: return ColumnType.text.sqliteDeclaration
        default: return nil
        }
    }

    /// `2026-11-27 10:30:45.1234+00` (DateStyle ISO, TimeZone UTC) → `2026-11-27T10:30:45.123400Z`.
    static func timestamp(_ b: UnsafeRawBufferPointer) -> String {
        let s = String(decoding: b, as: UTF8.self)
        // Years past 9999 or before year 1 (BC) have no fixed-width form: shown as PostgreSQL says.
        guard b.count >= 19, b[4] == UInt8(ascii: "-"), b[10] == UInt8(ascii: " "), !s.hasSuffix(" BC") else { return s }
        var out = [UInt8](b[0..<19])
        out[10] = UInt8(ascii: "T")
        var i = 19
        var fraction: [UInt8] = []
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count, (48...57).contains(b[i]) { fraction.append(b[i]); i += 1 }
        }
        while fraction.count < 6 { fraction.append(UInt8(ascii: "0")) }
        out.append(UInt8(ascii: "."))
        out += fraction.prefix(6)
        // With TimeZone UTC the offset is always +00; anything else is shown unconverted.
        let zone = String(decoding: b[i...], as: UTF8.self)
        guard zone.isEmpty || zone == "+00" else { return s }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// PostgreSQL's array output: `{a,"b c",NULL}` (one dimension; elements quoted when needed).
enum ArrayLiteral {
    static func parse(_ b: UnsafeRawBufferPointer) -> [String?]? {
        guard b.count >= 2, b.first == UInt8(ascii: "{"), b.last == UInt8(ascii: "}") else { return nil }
        var out: [String?] = []
        var i = 1
        let end = b.count - 1
        if i == end { return [] }
        while i <= end {
            var element: [UInt8] = []
            var quoted = false
            if b[i] == UInt8(ascii: "\"") {
                quoted = true
                i += 1
                while i < end, b[i] != UInt8(ascii: "\"") {
                    if b[i] == UInt8(ascii: "\\"), i + 1 < end { i += 1 }
                    element.append(b[i])
                    i += 1
                }
                i += 1
            } else {
                while i < end, b[i] != UInt8(ascii: ",") { element.append(b[i]); i += 1 }
            }
            let text = String(decoding: element, as: UTF8.self)
            out.append(!quoted && text == "NULL" ? nil : text)
            guard i == end || b[i] == UInt8(ascii: ",") else { return nil }
            i += 1
        }
        return out
    }
}

/// A JSON array of strings, read back into its elements.
enum JSONArrayText {
    static func strings(_ s: String) -> [String]? {
        var s = s
        return s.withUTF8 { p in
            var scanner = JSONScanner(UnsafeRawBufferPointer(p))
            scanner.skipWhitespace()
            return (try? scanner.readStringArray()) ?? nil
        }
    }
}

/// JSON escapes PostgreSQL will not take: `\u0000`, and a surrogate escape without its pair.
enum JSONEscapes {
    static let replacement = Array("\\ufffd".utf8)

    /// The text with those escapes replaced by `\ufffd`; nil when it has none.
    static func storable(_ s: String) -> String? {
        // Nearly every document has none: found by a scan of its bytes, with no copy.
        guard mayHave(s, { code in code == 0 || (0xD800...0xDFFF).contains(code) }) else { return nil }
        let b = Array(s.utf8)
        var out: [UInt8] = []
        var changed = false
        var i = 0
        func hex4(_ at: Int) -> UInt32? { b.withUnsafeBufferPointer { Bytes.hex4($0, at) } }
        while i < b.count {
            guard b[i] == UInt8(ascii: "\\"), i + 1 < b.count else { out.append(b[i]); i += 1; continue }
            guard b[i + 1] == UInt8(ascii: "u"), let code = hex4(i + 2) else {
                out.append(b[i]); out.append(b[i + 1]); i += 2
                continue
            }
            let isHigh = (0xD800...0xDBFF).contains(code), isLow = (0xDC00...0xDFFF).contains(code)
            if isHigh, b.count >= i + 12, b[i + 6] == UInt8(ascii: "\\"), b[i + 7] == UInt8(ascii: "u"),
                let low = hex4(i + 8), (0xDC00...0xDFFF).contains(low)
            {
                out += b[i..<i + 12]
                i += 12
                continue
            }
            if code == 0 || isHigh || isLow {
                out += replacement
                changed = true
            } else {
                out += b[i..<i + 6]
            }
            i += 6
        }
        return changed ? String(decoding: out, as: UTF8.self) : nil
    }

    /// True when the JSON text has a `\u0000` escape.
    static func hasEscapedNUL(_ s: String) -> Bool { mayHave(s) { $0 == 0 } }

    /// True when some `\uXXXX` escape in `s` has a code `matching` says yes to.
    private static func mayHave(_ s: String, _ matching: (UInt32) -> Bool) -> Bool {
        Bytes.withBytes(s) { b in
            var i = 0
            while i + 5 < b.count {
                if b[i] == UInt8(ascii: "\\") {
                    if b[i + 1] == UInt8(ascii: "u"), let code = Bytes.hex4(b, i + 2), matching(code) { return true }
                    i += 2  // an escaped backslash is not the start of another escape
                    continue
                }
                i += 1
            }
            return false
        }
    }
}

/// Byte scans of a string's UTF-8 without copying it.
enum Bytes {
    static func withBytes<T>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        if let r = s.utf8.withContiguousStorageIfAvailable(body) { return r }
        var copy = s
        return copy.withUTF8(body)
    }

    static func contains(_ s: String, _ byte: UInt8) -> Bool {
        withBytes(s) { b in b.isEmpty ? false : memchr(b.baseAddress!, Int32(byte), b.count) != nil }
    }

    /// Four hex digits at `at`, as a number.
    static func hex4(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32? {
        guard at + 4 <= b.count else { return nil }
        var v: UInt32 = 0
        for k in at..<at + 4 {
            let c = b[k]
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = v << 4 | UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = v << 4 | UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = v << 4 | UInt32(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
        return v
    }
}
