import Foundation
import KubetrailCore

/// PostgreSQL's binary COPY format (`COPY … TO STDOUT WITH (FORMAT binary)`): a signature and
/// header, then per row a 16-bit cell count and per cell a 32-bit length (-1 for NULL) and the
/// value in the type's binary form; a count of -1 ends the data. All integers big-endian.
///
/// Why binary for scans: the server skips each type's text output and the per-byte escaping
/// of text COPY (a quarter less server time for the audit table's columns), and cells arrive
/// length-prefixed, so none is searched for a delimiter or unescaped here.
struct CopyBinary {
    static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    enum Piece {
        case row
        case end
    }

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    private var headerRead = false

    /// Reads one CopyData message: the header first (the server sends it with the first row),
    /// then one row into `cells`, or the end marker. A message holds one row at most.
    mutating func read(_ message: UnsafeRawBufferPointer, into cells: UnsafeMutableBufferPointer<PostgresCell>, columns: Int) throws -> Piece {
        var at = 0
        if !headerRead {
            guard message.count >= Self.signature.count + 8, message.prefix(Self.signature.count).elementsEqual(Self.signature) else {
                throw Malformed(description: "the binary COPY data does not begin with PostgreSQL's signature")
            }
            at = Self.signature.count + 4
            let extensionLength = Int(Self.int32(message, at))
            at += 4
            guard extensionLength >= 0, at + extensionLength <= message.count else { throw Malformed(description: "the binary COPY header is cut short") }
            at += extensionLength
            headerRead = true
        }
        guard at + 2 <= message.count else { throw Malformed(description: "a binary COPY message has no row") }
        let count = Int(Int16(bitPattern: UInt16(message[at]) << 8 | UInt16(message[at + 1])))
        at += 2
        if count == -1 { return .end }
        guard count == columns else { throw Malformed(description: "a binary COPY row has \(count) cells, not the \(columns) the query has") }
        let base = message.baseAddress!
        for i in 0..<count {
            guard at + 4 <= message.count else { throw Malformed(description: "a binary COPY row is cut short") }
            let length = Int(Self.int32(message, at))
            at += 4
            if length == -1 {
                cells[i] = PostgresCell(start: nil, count: 0)
                continue
            }
            guard length >= 0, at + length <= message.count else { throw Malformed(description: "a binary COPY cell runs past its row") }
            cells[i] = PostgresCell(start: base + at, count: length)
            at += length
        }
        return .row
    }

    @inline(__always) static func int32(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int32 {
        Int32(bigEndian: b.loadUnaligned(fromByteOffset: at, as: Int32.self))
    }

    @inline(__always) static func int64(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int64 {
        Int64(bigEndian: b.loadUnaligned(fromByteOffset: at, as: Int64.self))
    }
}

/// Values in PostgreSQL's binary forms (`typsend`), read as the text forms read them
/// (`PostgresValues.value`): an integer as one, a time as RFC 3339 in UTC, a list as a JSON
/// array of strings; text and json are their bytes.
enum PostgresBinaryValues {
    /// Whether a value of `type` reads as its own bytes (text, varchar, json).
    static func isPlainText(_ type: UInt32) -> Bool {
        type == PostgresValues.textOID || type == PostgresValues.varcharOID || type == PostgresValues.jsonOID
    }

    static func integer(_ b: UnsafeRawBufferPointer, type: UInt32) -> Int64? {
        switch (type, b.count) {
        case (PostgresValues.int8OID, 8): return CopyBinary.int64(b, 0)
        case (PostgresValues.int4OID, 4): return Int64(CopyBinary.int32(b, 0))
        case (PostgresValues.int2OID, 2): return Int64(Int16(bitPattern: UInt16(b[0]) << 8 | UInt16(b[1])))
        default: return nil
        }
    }

    static func value(_ b: UnsafeRawBufferPointer, type: UInt32) -> QueryValue {
        if isPlainText(type) { return .text(String(decoding: b, as: UTF8.self)) }
        if let n = integer(b, type: type) { return .int(n) }
        switch type {
        case PostgresValues.boolOID where b.count == 1: return .int(b[0] == 0 ? 0 : 1)
        case PostgresValues.timestamptzOID where b.count == 8, PostgresValues.timestampOID where b.count == 8: return .text(timestamp(CopyBinary.int64(b, 0)))
        case PostgresValues.dateOID where b.count == 4: return .text(date(Int64(CopyBinary.int32(b, 0))))
        case PostgresValues.textArrayOID, PostgresValues.varcharArrayOID:
            guard let elements = array(b) else { return .text(String(decoding: b, as: UTF8.self)) }
            return .text(JSONText.array(elements.map { $0 ?? "" }))
        case PostgresValues.jsonbOID where b.first == 1: return .text(String(decoding: b.dropFirst(), as: UTF8.self))
        default: return .text(String(decoding: b, as: UTF8.self))
        }
    }

    /// A one-dimensional array's elements (each text), nil when it is not one.
    static func array(_ b: UnsafeRawBufferPointer) -> [String?]? {
        guard b.count >= 12 else { return nil }
        let dimensions = CopyBinary.int32(b, 0)
        if dimensions == 0 { return [] }
        guard dimensions == 1, b.count >= 20 else { return nil }
        let count = Int(CopyBinary.int32(b, 12))
        var at = 20, out: [String?] = []
        // Each element takes 4 bytes at least: a count the cell cannot hold reserves no more than it can.
        out.reserveCapacity(min(max(0, count), (b.count - 20) / 4))
        for _ in 0..<max(0, count) {
            guard at + 4 <= b.count else { return nil }
            let length = Int(CopyBinary.int32(b, at))
            at += 4
            if length == -1 { out.append(nil); continue }
            guard length >= 0, at + length <= b.count else { return nil }
            out.append(String(decoding: UnsafeRawBufferPointer(rebasing: b[at..<(at + length)]), as: UTF8.self))
            at += length
        }
        return out
    }

    /// Microseconds since 2000-01-01 00:00 UTC → `2026-11-27T10:30:45.123400Z`; the text form
    /// PostgreSQL writes (`infinity`, a year past 9999 or BC) otherwise. Written digit by digit:
    /// `String(format:)` cost more than the rest of a matching row.
    static func timestamp(_ micros: Int64) -> String {
        if micros == .max { return "infinity" }
        if micros == .min { return "-infinity" }
        let perDay: Int64 = 86_400_000_000
        var days = micros / perDay, rest = micros % perDay
        if rest < 0 { rest += perDay; days -= 1 }
        let (y, m, d) = civil(days)
        let seconds = Int(rest / 1_000_000), fraction = Int(rest % 1_000_000)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        let regular = y >= 1 && y <= 9999
        digits(y < 1 ? 1 - y : y, width: 4, into: &out)
        out.append(UInt8(ascii: "-")); digits(m, width: 2, into: &out)
        out.append(UInt8(ascii: "-")); digits(d, width: 2, into: &out)
        out.append(regular ? UInt8(ascii: "T") : UInt8(ascii: " "))
        digits(seconds / 3600, width: 2, into: &out)
        out.append(UInt8(ascii: ":")); digits(seconds / 60 % 60, width: 2, into: &out)
        out.append(UInt8(ascii: ":")); digits(seconds % 60, width: 2, into: &out)
        if regular {
            out.append(UInt8(ascii: ".")); digits(fraction, width: 6, into: &out)
            out.append(UInt8(ascii: "Z"))
        } else {
            // As PostgreSQL writes it: trailing zeros of the fraction dropped, the zone, the era.
            if fraction > 0 {
                out.append(UInt8(ascii: "."))
                var f = fraction, width = 6
                while f % 10 == 0 { f /= 10; width -= 1 }
                digits(f, width: width, into: &out)
            }
            out += Array("+00".utf8)
            if y < 1 { out += Array(" BC".utf8) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Days since 2000-01-01 → `YYYY-MM-DD`.
    static func date(_ days: Int64) -> String {
        if days == Int64(Int32.max) { return "infinity" }
        if days == Int64(Int32.min) { return "-infinity" }
        let (y, m, d) = civil(days)
        var out: [UInt8] = []
        digits(y < 1 ? 1 - y : y, width: 4, into: &out)
        out.append(UInt8(ascii: "-")); digits(m, width: 2, into: &out)
        out.append(UInt8(ascii: "-")); digits(d, width: 2, into: &out)
        if y < 1 { out += Array(" BC".utf8) }
        return String(decoding: out, as: UTF8.self)
    }

    /// `n` (not negative) in decimal, zero-padded to `width`.
    private static func digits(_ n: Int, width: Int, into out: inout [UInt8]) {
        var scratch: [UInt8] = []
        var v = n
        repeat { scratch.append(UInt8(48 + v % 10)); v /= 10 } while v > 0
        while scratch.count < width { scratch.append(48) }
        out += scratch.reversed()
    }

    /// The date `days` after 2000-01-01, PostgreSQL's epoch (10,957 days after 1970's).
    static func civil(_ days: Int64) -> (year: Int, month: Int, day: Int) {
        let (y, m, d) = civilFromDays(days + 10_957)
        return (Int(y), Int(m), Int(d))
    }
}
