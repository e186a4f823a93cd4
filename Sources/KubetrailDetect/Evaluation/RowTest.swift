import Foundation
import KubetrailCore
import KubetrailStore

/// A detection predicate compiled to run over scanned audit rows in Swift, giving the answers
/// its SQL (`PredicateSQL`) gives on either engine: text ignores case, a missing value matches
/// no test (so `not` is true for it), `*` alone is any value, a JSON path steps into arrays as
/// a lax path does, and a field's text tests are one set of patterns.
class RowTest {
    func matches(_ row: AuditScanRow) throws -> Bool { preconditionFailure("a RowTest subclass tests rows") }

    /// `p` compiled; `cell` gives the scan's cell of a column.
    static func compile(_ p: DetectionPredicate, cell: (String) -> Int) -> RowTest {
        switch p {
        case .match(let field, let test):
            if let pattern = PredicateSQL.textPattern(test) { return FieldTest(field, cell: cell, patterns: [pattern]) }
            return FieldTest(field, cell: cell, test: test)
        case .and(let terms): return AllOf(terms.map { compile($0, cell: cell) })
        case .or(let terms):
            // A field's text tests (a Sigma value list) become one set of patterns, as in SQL.
            var groups: [(field: AuditField, patterns: [[WildcardPart]])] = []
            var others: [RowTest] = []
            for t in terms {
                if case .match(let field, let test) = t, let pattern = PredicateSQL.textPattern(test) {
                    if let i = groups.firstIndex(where: { $0.field == field }) { groups[i].patterns.append(pattern) } else { groups.append((field, [pattern])) }
                } else {
                    others.append(compile(t, cell: cell))
                }
            }
            let parts = groups.map { FieldTest($0.field, cell: cell, patterns: $0.patterns) as RowTest } + others
            return parts.count == 1 ? parts[0] : AnyOf(parts)
        case .not(let inner): return Negation(compile(inner, cell: cell))
        }
    }
}

/// Terms kept unretained (the node owns them in `owned`): iterating an array of classes
/// counts a reference per element per row.
final class AllOf: RowTest {
    private let owned: [RowTest]
    private let terms: UnsafeMutableBufferPointer<Unmanaged<RowTest>>
    init(_ terms: [RowTest]) {
        owned = terms
        self.terms = .allocate(capacity: terms.count)
        _ = self.terms.initialize(from: terms.map { Unmanaged.passUnretained($0) })
    }
    deinit { terms.deallocate() }
    override func matches(_ row: AuditScanRow) throws -> Bool {
        for t in terms where try !t._withUnsafeGuaranteedRef({ try $0.matches(row) }) { return false }
        return true
    }
}

final class AnyOf: RowTest {
    private let owned: [RowTest]
    private let terms: UnsafeMutableBufferPointer<Unmanaged<RowTest>>
    init(_ terms: [RowTest]) {
        owned = terms
        self.terms = .allocate(capacity: terms.count)
        _ = self.terms.initialize(from: terms.map { Unmanaged.passUnretained($0) })
    }
    deinit { terms.deallocate() }
    override func matches(_ row: AuditScanRow) throws -> Bool {
        for t in terms where try t._withUnsafeGuaranteedRef({ try $0.matches(row) }) { return true }
        return false
    }
}

final class Negation: RowTest {
    let inner: RowTest
    init(_ inner: RowTest) { self.inner = inner }
    override func matches(_ row: AuditScanRow) throws -> Bool { try !inner.matches(row) }
}

/// One test of one field: the values the field has in a row (a column's one value, a list's
/// elements, the values a JSON path reaches), and what one of them must be.
final class FieldTest: RowTest {
    enum Source {
        case column(cell: Int, integer: Bool)
        case list(cell: Int)
        case json(cell: Int, path: [String])
    }
    enum Test {
        case patterns(CaselessPatterns)
        case anyValue
        case exists(Bool)
        case isNull
        case number(Double)
        case bool(Bool)
        case regex(NSRegularExpression?)
        case cidr(IPNetwork?)
    }
    let source: Source
    let test: Test
    /// The same, flattened, for the per-row path: reading an enum's payload costs a reference count.
    private let cell: Int
    private let columnText: Bool
    private let textPatterns: CaselessPatterns?
    /// A JSON path's last key, quoted, when its characters are ones only a `\u` escape could
    /// write otherwise: a document without it (and without `\u`) has nothing at the path, which
    /// a search of its bytes tells faster than walking it. A pod's spec is walked by a dozen
    /// rules for keys (`hostIPC`, `privileged`) most specs do not have.
    private let lastKey: [UInt8]?
    /// Results by dictionary id, for a column whose values are interned (`AuditScanRow.valueID`):
    /// small ids in a table (-1 unknown), others in a dictionary.
    private let memoTable = UnsafeMutableBufferPointer<Int8>.allocate(capacity: 4096)
    private var memo: [Int64: Bool] = [:]

    convenience init(_ field: AuditField, cell: (String) -> Int, patterns: [[WildcardPart]]) {
        // `*` alone is any value at all (SigmaHQ's `hostPath: '*'` is an object): not null.
        self.init(Self.source(field, cell), patterns.contains([.anyRun]) ? .anyValue : .patterns(CaselessPatterns(like: patterns.map(PredicateSQL.like))))
    }

    convenience init(_ field: AuditField, cell: (String) -> Int, test: ValueTest) {
        let compiled: Test
        switch test {
        case .equals, .wildcard: preconditionFailure("text tests are patterns")
        case .exists(let present): compiled = .exists(present)
        case .isNull: compiled = .isNull
        case .number(let n): compiled = .number(n)
        case .bool(let b): compiled = .bool(b)
        // A pattern the rule parser accepted compiles (RuleSet checks); nil would match nothing.
        case .regex(let r): compiled = .regex(try? NSRegularExpression(pattern: r))
        case .cidr(let n): compiled = .cidr(IPNetwork(n))
        }
        self.init(Self.source(field, cell), compiled)
    }

    private init(_ source: Source, _ test: Test) {
        self.source = source
        self.test = test
        switch source {
        case .column(let c, let integer): cell = c; columnText = !integer
        case .list(let c), .json(let c, _): cell = c; columnText = false
        }
        if case .patterns(let p) = test { textPatterns = p } else { textPatterns = nil }
        if case .json(_, let path) = source, let key = path.last, !key.isEmpty,
            key.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        {
            lastKey = Array("\"\(key)\"".utf8)
        } else {
            lastKey = nil
        }
        memoTable.initialize(repeating: -1)
    }

    deinit { memoTable.deallocate() }

    private static func source(_ field: AuditField, _ cell: (String) -> Int) -> Source {
        switch field {
        case .text(let c): return .column(cell: cell(c), integer: false)
        case .integer(let c): return .column(cell: cell(c), integer: true)
        case .list(let c): return .list(cell: cell(c))
        case .json(let c, let path): return .json(cell: cell(c), path: path)
        }
    }

    override func matches(_ row: AuditScanRow) throws -> Bool {
        // A test of an interned value depends on nothing else: known after the first row with it.
        guard let id = row.valueID(cell) else { return try evaluate(row) }
        if id >= 0 && id < memoTable.count {
            let known = memoTable[Int(id)]
            if known >= 0 { return known == 1 }
            let r = try evaluate(row)
            memoTable[Int(id)] = r ? 1 : 0
            return r
        }
        if let known = memo[id] { return known }
        let r = try evaluate(row)
        if memo.count >= 4096 { memo.removeAll(keepingCapacity: true) }
        memo[id] = r
        return r
    }

    private func evaluate(_ row: AuditScanRow) throws -> Bool {
        // The common case first: patterns on a text column.
        if columnText, let p = textPatterns {
            return try row.withText(cell) { v in try v.map { try p.matches($0, shouldStop: Self.never) } ?? false }
        }
        switch source {
        case .column(let cell, true):
            // A number on the integer column (`responseStatus.code: 403`): read as one, no text.
            if case .number(let n) = test { return row.integer(cell).map { Double($0) == n } ?? false }
            return try row.withText(cell) { try column($0, integer: true) }
        case .column(let cell, let integer): return try row.withText(cell) { try column($0, integer: integer) }
        case .list(let cell): return try row.withText(cell) { try list($0) }
        case .json(let cell, let path): return try row.withText(cell) { try json($0, path) }
        }
    }

    private static func never() -> Bool { false }

    private func column(_ value: UnsafeRawBufferPointer?, integer: Bool) throws -> Bool {
        switch test {
        case .exists(let present): return (value != nil) == present
        case .isNull: return value == nil
        default:
            guard let value else { return false }
            return try scalar(value, kind: integer ? .integer : .text)
        }
    }

    private func list(_ value: UnsafeRawBufferPointer?) throws -> Bool {
        var elements: [Range<Int>] = []
        if let value {
            var s = JSONScanner(value)
            do {
                guard s.peek() == UInt8(ascii: "[") else { throw CaselessPatterns.NotAList(reason: nil) }
                try s.enterArray()
                var first = true
                while try s.nextElement(&first) { elements.append(try s.skipValue()) }
            } catch let e as JSONError {
                throw CaselessPatterns.NotAList(reason: "\(e)")
            }
        }
        return try values(value, elements, kind: .listElement)
    }

    private func json(_ document: UnsafeRawBufferPointer?, _ path: [String]) throws -> Bool {
        guard let document else { return try values(nil, [], kind: .json) }
        if let lastKey, !Self.occurs(lastKey, in: document), !Self.occurs(Self.unicodeEscape, in: document) {
            return try values(document, [], kind: .json)
        }
        let reached: [Range<Int>]
        do { reached = try JSONLaxPath.values(in: document, path: path) } catch {
            throw NotJSON(reason: "\(error)")
        }
        return try values(document, reached, kind: .json)
    }

    private static let unicodeEscape = Array("\\u".utf8)

    private static func occurs(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Bool {
        guard let base = haystack.baseAddress, haystack.count >= needle.count else { return false }
        return needle.withUnsafeBytes { c_memmem(base, haystack.count, $0.baseAddress!, needle.count) != nil }
    }

    struct NotJSON: Error, CustomStringConvertible {
        var reason: String
        var description: String { "a JSON column holds something that is not JSON (\(reason))" }
    }

    private enum Kind { case text, integer, listElement, json }

    /// The test over several values (JSON tokens in `bytes`): exists and null look at them all,
    /// the rest want one non-null value that passes.
    private func values(_ bytes: UnsafeRawBufferPointer?, _ tokens: [Range<Int>], kind: Kind) throws -> Bool {
        guard let bytes else {
            switch test {
            case .exists(let present): return !present
            case .isNull: return true
            default: return false
            }
        }
        let null = Array("null".utf8)
        switch test {
        case .exists(let present): return !tokens.isEmpty == present
        case .isNull: return tokens.allSatisfy { bytes[$0].elementsEqual(null) }
        default:
            for t in tokens where !bytes[t].elementsEqual(null) {
                if try scalar(UnsafeRawBufferPointer(rebasing: bytes[t]), kind: kind) { return true }
            }
            return false
        }
    }

    /// One non-null value: a column's text, or a JSON token (a list's element, a path's value).
    private func scalar(_ v: UnsafeRawBufferPointer, kind: Kind) throws -> Bool {
        let isString = (kind == .listElement || kind == .json) && v.first == UInt8(ascii: "\"")
        switch test {
        case .exists, .isNull: preconditionFailure("handled by the callers")
        case .anyValue: return true
        case .patterns(let p):
            switch kind {
            case .text, .integer: return try p.matches(v, shouldStop: Self.never)
            case .listElement, .json: return isString ? try p.matches(jsonString: v, shouldStop: Self.never) : false
            }
        case .number(let n):
            switch kind {
            case .integer: return Double(String(decoding: v, as: UTF8.self)) == n
            // A text column against a number compares the number's text (SQLite's affinity, PostgreSQL's cast).
            case .text: return v.elementsEqual(SigmaRule.text(n).utf8)
            case .listElement: return isString && Self.string(v).map { $0 == SigmaRule.text(n) } == true
            case .json: return !isString && v.first != UInt8(ascii: "t") && v.first != UInt8(ascii: "f") && Double(String(decoding: v, as: UTF8.self)) == n
            }
        case .bool(let b):
            switch kind {
            case .json: return v.elementsEqual((b ? "true" : "false").utf8)
            case .text, .integer: return String(decoding: v, as: UTF8.self).lowercased() == String(b)
            case .listElement: return isString && Self.string(v)?.lowercased() == String(b)
            }
        case .regex(let r):
            guard let r, let text = isString ? Self.string(v) : String(decoding: v, as: UTF8.self) as String? else { return false }
            return r.firstMatch(in: text, range: NSRange(location: 0, length: (text as NSString).length)) != nil
        case .cidr(let network):
            guard let network else { return false }
            guard let text = kind == .text || kind == .integer ? String(decoding: v, as: UTF8.self) : (isString ? Self.string(v) : nil) else { return false }
            return network.contains(text)
        }
    }

    /// A JSON string token's text.
    private static func string(_ token: UnsafeRawBufferPointer) -> String? {
        var s = JSONScanner(token)
        return try? s.readString()
    }
}

/// glibc's memmem (SIMD two-way search), which Glibc's Swift module leaves out (a GNU extension).
@_silgen_name("memmem")
private func c_memmem(_ haystack: UnsafeRawPointer, _ haystackLength: Int, _ needle: UnsafeRawPointer, _ needleLength: Int) -> UnsafeMutableRawPointer?
