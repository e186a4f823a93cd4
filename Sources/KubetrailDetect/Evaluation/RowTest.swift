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

final class AllOf: RowTest {
    let terms: ContiguousArray<RowTest>
    init(_ terms: [RowTest]) { self.terms = ContiguousArray(terms) }
    override func matches(_ row: AuditScanRow) throws -> Bool {
        for t in terms where try !t.matches(row) { return false }
        return true
    }
}

final class AnyOf: RowTest {
    let terms: ContiguousArray<RowTest>
    init(_ terms: [RowTest]) { self.terms = ContiguousArray(terms) }
    override func matches(_ row: AuditScanRow) throws -> Bool {
        for t in terms where try t.matches(row) { return true }
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
    /// Results by dictionary id, for a column whose values are interned (`AuditScanRow.valueID`).
    private var memo: [Int64: Bool] = [:]

    init(_ field: AuditField, cell: (String) -> Int, patterns: [[WildcardPart]]) {
        source = Self.source(field, cell)
        // `*` alone is any value at all (SigmaHQ's `hostPath: '*'` is an object): not null.
        test = patterns.contains([.anyRun]) ? .anyValue : .patterns(CaselessPatterns(like: patterns.map(PredicateSQL.like)))
    }

    init(_ field: AuditField, cell: (String) -> Int, test: ValueTest) {
        source = Self.source(field, cell)
        switch test {
        case .equals, .wildcard: preconditionFailure("text tests are patterns")
        case .exists(let present): self.test = .exists(present)
        case .isNull: self.test = .isNull
        case .number(let n): self.test = .number(n)
        case .bool(let b): self.test = .bool(b)
        // A pattern the rule parser accepted compiles (RuleSet checks); nil would match nothing.
        case .regex(let r): self.test = .regex(try? NSRegularExpression(pattern: r))
        case .cidr(let n): self.test = .cidr(IPNetwork(n))
        }
    }

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
        if let known = memo[id] { return known }
        let r = try evaluate(row)
        if memo.count >= 4096 { memo.removeAll(keepingCapacity: true) }
        memo[id] = r
        return r
    }

    private var cell: Int {
        switch source {
        case .column(let cell, _), .list(let cell), .json(let cell, _): return cell
        }
    }

    private func evaluate(_ row: AuditScanRow) throws -> Bool {
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
        let reached: [Range<Int>]
        do { reached = try JSONLaxPath.values(in: document, path: path) } catch {
            throw NotJSON(reason: "\(error)")
        }
        return try values(document, reached, kind: .json)
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
