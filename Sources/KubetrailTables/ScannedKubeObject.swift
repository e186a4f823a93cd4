import KubetrailCore

/// An API object read where it lies, in the bytes it arrived as: validated once, its members
/// indexed on first use, and sub-values handed out as the JSON text received. This is the
/// pollers' reader: decoding each object into Foundation dictionaries, and encoding spec and
/// status back to text, cost several times more than everything else per object.
public final class ScannedKubeObject: KubeFields {
    struct Member {
        var key: JSONStringToken
        var value: Range<Int>
    }

    public let bytes: [UInt8]
    /// Replaces the object's own `kind` (list items carry none; metadata-only ones say
    /// `PartialObjectMetadata`) and `apiVersion` (absent in list items).
    public var kindOverride: String?
    public var apiVersionOverride: String?
    private var indexes: [Int: [Member]] = [:]
    private let root: Range<Int>

    /// Fails with a rejection when the bytes are not one JSON object.
    public init(_ bytes: [UInt8]) throws(Rejection) {
        self.bytes = bytes
        let scanned: Result<Range<Int>, JSONError> = bytes.withUnsafeBytes { raw in
            var s = JSONScanner(raw)
            return Result { () throws(JSONError) in
                guard s.peek() == 0x7B else { throw JSONError.typeMismatch(expected: "object", s.peek() ?? 0, s.position) }
                let range = try s.skipValue()
                s.skipWhitespace()
                guard s.isAtEnd else { throw JSONError.unexpectedByte(raw[s.position], s.position) }
                return range
            }
        }
        switch scanned {
        case .success(let range): root = range
        case .failure(let error): throw Rejection(reason: "malformed JSON", detail: "invalid JSON: \(error)")
        }
    }

    public var kind: String? { kindOverride ?? string("kind") }
    /// Metadata-only objects say `meta.k8s.io/v1`, which is not the resource's version.
    public var apiVersion: String? {
        string("kind") == "PartialObjectMetadata" ? apiVersionOverride : string("apiVersion") ?? apiVersionOverride
    }

    // MARK: Locating

    private func members(of range: Range<Int>) -> [Member] {
        if let cached = indexes[range.lowerBound] { return cached }
        let found: [Member] = bytes.withUnsafeBytes { raw in
            var s = JSONScanner(raw, position: range.lowerBound)
            var out: [Member] = []
            // Validated in init: scanning it again cannot fail.
            guard s.peek() == 0x7B, (try? s.enterObject()) != nil else { return out }
            var first = true
            // skipValue's range starts at the value itself, after any whitespace.
            while let key = try? s.nextKey(&first), let value = try? s.skipValue() { out.append(Member(key: key, value: value)) }
            // A repeated key: the last one counts, as with Foundation's decoder.
            var kept: [Member] = []
            kept.reserveCapacity(out.count)
            for m in out.reversed() where !kept.contains(where: { raw[$0.key.range].elementsEqual(raw[m.key.range]) }) { kept.append(m) }
            return kept.count == out.count ? out : kept.reversed()
        }
        indexes[range.lowerBound] = found
        return found
    }

    private func keyEquals(_ token: JSONStringToken, _ key: String) -> Bool {
        if token.hasEscapes { return keyString(token) == key }
        var utf8 = key.utf8.makeIterator()
        for i in token.range {
            guard let c = utf8.next(), c == bytes[i] else { return false }
        }
        return utf8.next() == nil
    }

    private func keyString(_ token: JSONStringToken) -> String {
        bytes.withUnsafeBytes { JSONScanner($0).string(token) }
    }

    /// The value at `path`, nil when absent or null.
    private func locate(_ path: [String]) -> Range<Int>? {
        var range = root
        for key in path {
            guard bytes[range.lowerBound] == 0x7B,
                let member = members(of: range).last(where: { keyEquals($0.key, key) })
            else { return nil }
            range = member.value
        }
        if bytes[range.lowerBound] == 0x6E { return nil }  // null
        return range
    }

    private func scan<T>(_ range: Range<Int>, _ body: (inout JSONScanner) throws(JSONError) -> T?) -> T? {
        bytes.withUnsafeBytes { raw in
            var s = JSONScanner(raw, position: range.lowerBound)
            return try? body(&s)
        } ?? nil
    }

    // MARK: KubeFields

    public func string(_ path: String...) -> String? {
        guard let r = locate(path), bytes[r.lowerBound] == 0x22 else { return nil }
        return scan(r) { (s: inout JSONScanner) throws(JSONError) in try s.readString() }
    }

    public func int(_ path: String...) -> Int64? {
        locate(path).flatMap(integer)
    }

    /// An integer, also written as `3.0` (Foundation's reader takes the integer part too).
    private func integer(_ r: Range<Int>) -> Int64? {
        if let n = scan(r, { (s: inout JSONScanner) throws(JSONError) in try s.readInt() }) { return n }
        guard bytes[r.lowerBound] == 0x2D || (0x30...0x39).contains(bytes[r.lowerBound]),
            let d = Double(String(decoding: bytes[r], as: UTF8.self)), d.isFinite, abs(d) < 9e18
        else { return nil }
        return Int64(d)
    }

    public func timestamp(_ path: String...) throws(Rejection) -> Timestamp? {
        guard let r = locate(path), bytes[r.lowerBound] == 0x22,
            let text = scan(r, { (s: inout JSONScanner) throws(JSONError) in try s.readString() }), !text.isEmpty
        else { return nil }
        guard let t = Timestamp(rfc3339: text) else {
            throw Rejection(reason: "invalid timestamp", detail: "invalid \(path.joined(separator: ".")) '\(text.prefix(40))'")
        }
        return t
    }

    public func has(_ path: String...) -> Bool { locate(path) != nil }

    public func jsonText(_ path: String...) -> String? {
        locate(path).map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    public func jsonText(_ path: [String], without key: String) -> String? {
        guard let r = locate(path) else { return nil }
        guard bytes[r.lowerBound] == 0x7B else { return String(decoding: bytes[r], as: UTF8.self) }
        var out: [UInt8] = [0x7B]
        for m in members(of: r) where !keyEquals(m.key, key) {
            if out.count > 1 { out.append(0x2C) }
            out.append(0x22)
            out += bytes[m.key.range]
            out += [0x22, 0x3A]
            out += bytes[m.value]
        }
        out.append(0x7D)
        return String(decoding: out, as: UTF8.self)
    }

    public func keys(_ path: String...) -> [String] {
        guard let r = locate(path), bytes[r.lowerBound] == 0x7B else { return [] }
        return members(of: r).map { keyString($0.key) }
    }

    public func stringMembers(_ path: String...) -> [(key: String, value: String)] {
        guard let r = locate(path), bytes[r.lowerBound] == 0x7B else { return [] }
        return members(of: r).compactMap { m in
            guard bytes[m.value.lowerBound] == 0x22,
                let v = scan(m.value, { (s: inout JSONScanner) throws(JSONError) in try s.readString() })
            else { return nil }
            return (keyString(m.key), v)
        }
    }

    public func sum(_ key: String, overArray path: String...) -> Int64? {
        guard let r = locate(path), bytes[r.lowerBound] == 0x5B else { return nil }
        let elements: [Range<Int>] = bytes.withUnsafeBytes { raw in
            var s = JSONScanner(raw, position: r.lowerBound)
            var out: [Range<Int>] = []
            guard (try? s.enterArray()) != nil else { return out }
            var first = true
            while (try? s.nextElement(&first)) == true, let e = try? s.skipValue() { out.append(e) }
            return out
        }
        var total: Int64 = 0
        for element in elements {
            guard bytes[element.lowerBound] == 0x7B,
                let m = members(of: element).last(where: { keyEquals($0.key, key) }),
                let n = integer(m.value)
            else { continue }
            total &+= max(0, n)
        }
        return total
    }
}
