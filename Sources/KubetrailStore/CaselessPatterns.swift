import Foundation
import KubetrailCore

/// LIKE patterns (`%`, `_`, `\` escapes) any of which a value may match, ignoring case as
/// detections compare text: the SQLite functions of `DetectionMatchers` and the evaluator of
/// `kubetrail detect` use the same one, so a rule answers the same on both.
///
/// Most rules' values are a literal, a prefix, a suffix or a substring: literals are compared
/// folding the value's bytes as they are read, substrings found by one automaton (however many
/// there are) that folds as it reads; anything else goes to `WildcardPattern`.
/// Patterns of ASCII fold ASCII letters (as SQLite's NOCASE); a pattern with other letters is
/// compared with both sides lower-cased by Unicode's rules, as kubetrail's `match` does.
/// Not for concurrent use: it keeps one buffer for the folded value.
public final class CaselessPatterns {
    enum Shape {
        case exact([UInt8]), prefix([UInt8]), suffix([UInt8]), contains([UInt8])
        case general(WildcardPattern)
        case unicode(WildcardPattern)
        case containsAny(MultiSubstring)
    }
    let shapes: [Shape]
    /// The value folded, grown as values need.
    private var folded = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256)

    deinit { folded.deallocate() }

    public init(like patterns: [String]) {
        var shapes = patterns.map(Self.shape)
        // Substrings: one pass of an automaton that folds as it reads, whatever their number.
        let needles = shapes.compactMap { if case .contains(let l) = $0 { return l } else { return nil } }
        if !needles.isEmpty, let automaton = MultiSubstring(needles, caseless: true) {
            shapes.removeAll { if case .contains = $0 { return true } else { return false } }
            shapes.append(.containsAny(automaton))
        }
        self.shapes = shapes
    }

    /// From a JSON array of patterns (the SQL functions' argument); nil when it is not one.
    public convenience init?(json spec: UnsafeRawBufferPointer) {
        var s = JSONScanner(spec)
        guard let texts = try? s.readStringArray() else { return nil }
        self.init(like: texts)
    }

    /// A pattern as a shape: literal bytes folded, `%` only at its ends, no `_`.
    static func shape(_ pattern: String) -> Shape {
        guard pattern.utf8.allSatisfy({ $0 < 0x80 }) else {
            return .unicode(WildcardPattern(pattern.lowercased().utf8, syntax: .like(escape: [UInt8(ascii: "\\")])))
        }
        let p = Array(pattern.utf8)
        var literal: [UInt8] = []
        var leading = false, trailing = false, simple = true
        var i = 0
        while i < p.count {
            switch p[i] {
            case UInt8(ascii: "\\"):
                guard i + 1 < p.count else { simple = false; break }
                if trailing { simple = false }
                literal.append(WildcardPattern.fold(p[i + 1]))
                i += 1
            case UInt8(ascii: "%"):
                if literal.isEmpty && !trailing { leading = true } else { trailing = true }
            case UInt8(ascii: "_"):
                simple = false
            default:
                if trailing { simple = false }
                literal.append(WildcardPattern.fold(p[i]))
            }
            i += 1
        }
        guard simple, !literal.isEmpty else {
            return .general(WildcardPattern(p, syntax: .like(escape: [UInt8(ascii: "\\")]), caseless: true))
        }
        switch (leading, trailing) {
        case (false, false): return .exact(literal)
        case (false, true): return .prefix(literal)
        case (true, false): return .suffix(literal)
        case (true, true): return .contains(literal)
        }
    }

    /// `needle` in `haystack` (both non-empty, needle no longer): memchr to each candidate
    /// first byte, memcmp from there.
    static func contains(_ needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>) -> Bool {
        let base = haystack.baseAddress!
        let last = haystack.count - needle.count
        var i = 0
        return needle.withUnsafeBufferPointer { n in
            while i <= last {
                guard let hit = memchr(base + i, Int32(n[0]), last - i + 1) else { return false }
                let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(base + at, n.baseAddress!, n.count) == 0 { return true }
                i = at + 1
            }
            return false
        }
    }

    /// The value (UTF-8) against every pattern. `shouldStop` ends a general pattern's search
    /// (thrown as `WildcardPattern.Stopped`).
    public func matches(_ value: UnsafeRawBufferPointer, shouldStop: () -> Bool) throws -> Bool {
        var lowered: String?
        for shape in shapes {
            switch shape {
            case .exact(let l): if l.count == value.count, Self.foldedEquals(value, 0, l) { return true }
            case .prefix(let l): if l.count <= value.count, Self.foldedEquals(value, 0, l) { return true }
            case .suffix(let l): if l.count <= value.count, Self.foldedEquals(value, value.count - l.count, l) { return true }
            case .contains(let l): if l.count <= value.count, try matchesFolded(value, l) { return true }
            case .containsAny(let m): if m.occurs(in: value) { return true }
            case .general(let w):
                if try w.matches(value.bindMemory(to: UInt8.self), shouldStop: shouldStop) { return true }
            case .unicode(let w):
                if lowered == nil { lowered = String(decoding: value, as: UTF8.self).lowercased() }
                if try lowered!.withUTF8({ try w.matches($0, shouldStop: shouldStop) }) { return true }
            }
        }
        return false
    }

    /// `value[at...]` starts with `literal` (folded), reading the value's letters folded.
    @inline(__always) static func foldedEquals(_ value: UnsafeRawBufferPointer, _ at: Int, _ literal: [UInt8]) -> Bool {
        literal.withUnsafeBufferPointer { l in
            for i in 0..<l.count {
                let b = value[at + i]
                if (b &- 0x41 < 26 ? b | 0x20 : b) != l[i] { return false }
            }
            return true
        }
    }

    /// A substring search over the value folded into the buffer (only when an automaton could not be built).
    private func matchesFolded(_ value: UnsafeRawBufferPointer, _ needle: [UInt8]) throws -> Bool {
        if value.count > folded.count {
            folded.deallocate()
            folded = .allocate(capacity: max(value.count, folded.count * 2))
        }
        for i in 0..<value.count { folded[i] = WildcardPattern.fold(value[i]) }
        return Self.contains(needle, in: UnsafeBufferPointer(rebasing: folded[0..<value.count]))
    }

    /// A JSON string token (with its quotes) against the patterns, decoded only when it holds escapes.
    public func matches(jsonString token: UnsafeRawBufferPointer, shouldStop: () -> Bool) throws -> Bool {
        let inner = UnsafeRawBufferPointer(rebasing: token[1..<(token.count - 1)])
        guard inner.contains(UInt8(ascii: "\\")) else { return try matches(inner, shouldStop: shouldStop) }
        var s = JSONScanner(token)
        guard let decoded = try? s.readString() else { return false }
        return try Array(decoded.utf8).withUnsafeBytes { try matches($0, shouldStop: shouldStop) }
    }

    /// Any string element of a JSON array (a list column) matching; `NotAList` when it is not an array.
    public func matches(anyStringIn list: UnsafeRawBufferPointer, shouldStop: () -> Bool) throws -> Bool {
        var s = JSONScanner(list)
        do {
            guard s.peek() == UInt8(ascii: "[") else { throw NotAList(reason: nil) }
            try s.enterArray()
            var first = true
            while try s.nextElement(&first) {
                let r = try s.skipValue()
                if list[r.lowerBound] == UInt8(ascii: "\""), try matches(jsonString: UnsafeRawBufferPointer(rebasing: list[r]), shouldStop: shouldStop) {
                    return true
                }
            }
        } catch let e as JSONError {
            throw NotAList(reason: "\(e)")
        }
        return false
    }

    public struct NotAList: Error, CustomStringConvertible {
        var reason: String?
        public init(reason: String?) { self.reason = reason }
        public var description: String { "a list column holds something that is not a JSON array" + (reason.map { " (\($0))" } ?? "") }
    }
}
