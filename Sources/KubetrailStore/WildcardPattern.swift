/// LIKE and GLOB patterns matched over UTF-8 bytes, for the connection's own `like`, `glob` and
/// ILIKE (`match`) functions.
///
/// SQLite's built-in matcher runs in one uninterruptible call whose cost grows with value length
/// × pattern length (`x LIKE '%aaa…ab'` over 16 MiB took minutes); this one asks `shouldStop`
/// every so often, so a query's time limit holds inside a single match.
struct WildcardPattern {
    enum Syntax { case like(escape: [UInt8]?), glob }

    struct Stopped: Error {}

    private enum Token: Equatable {
        case many  // % or *
        case one  // _ or ?: one UTF-8 character
        case byte(UInt8)
        case set(Int)  // index into `sets` (GLOB's [...])
    }

    private struct CharacterSet {
        var negated: Bool
        var ranges: [ClosedRange<UInt32>]
        func contains(_ scalar: UInt32) -> Bool { ranges.contains { $0.contains(scalar) } != negated }
    }

    private var tokens: [Token] = []
    private var sets: [CharacterSet] = []
    /// A GLOB class without its `]`, or a LIKE escape at the end, matches nothing (as in SQLite).
    private var neverMatches = false
    /// ASCII letters match either case (detections' text tests); other bytes match themselves.
    private var caseless = false

    /// `caseless`: ASCII letters of the pattern and the value compared folded to lower case.
    init(_ pattern: some Collection<UInt8>, syntax: Syntax, caseless: Bool = false) {
        self.caseless = caseless
        let p = caseless ? pattern.map(Self.fold) : Array(pattern)
        var i = 0
        while i < p.count {
            switch syntax {
            case .like(let escape):
                if let escape, !escape.isEmpty, p[i...].starts(with: escape) {
                    i += escape.count
                    // An escape with nothing after it matches nothing, as in SQLite.
                    if i >= p.count { neverMatches = true; return }
                    let n = Self.sequenceLength(p[i])
                    tokens += p[i..<min(p.count, i + n)].map(Token.byte)
                    i += n
                    continue
                }
                switch p[i] {
                case UInt8(ascii: "%"): if tokens.last != .many { tokens.append(.many) }
                case UInt8(ascii: "_"): tokens.append(.one)
                default: tokens.append(.byte(p[i]))
                }
                i += 1
            case .glob:
                switch p[i] {
                case UInt8(ascii: "*"): if tokens.last != .many { tokens.append(.many) }; i += 1
                case UInt8(ascii: "?"): tokens.append(.one); i += 1
                case UInt8(ascii: "["):
                    guard let (set, next) = Self.parseSet(p, from: i + 1) else { neverMatches = true; return }
                    sets.append(set)
                    tokens.append(.set(sets.count - 1))
                    i = next
                default: tokens.append(.byte(p[i])); i += 1
                }
            }
        }
    }

    /// Iterative matching with backtracking to the last `%`: O(value × pattern) at worst, with a
    /// stop check every 64 Ki steps.
    func matches(_ value: UnsafeBufferPointer<UInt8>, shouldStop: () -> Bool) throws -> Bool {
        if neverMatches { return false }
        var vi = 0, ti = 0
        var starT = -1, starV = 0
        var steps = 0
        while vi < value.count {
            steps &+= 1
            if steps & 0xFFFF == 0, shouldStop() { throw Stopped() }
            if ti < tokens.count {
                switch tokens[ti] {
                case .many:
                    starT = ti; starV = vi; ti += 1
                    continue
                case .one:
                    vi += Self.sequenceLength(value[vi]); ti += 1
                    continue
                case .byte(let b) where b == (caseless ? Self.fold(value[vi]) : value[vi]):
                    vi += 1; ti += 1
                    continue
                case .set(let s):
                    let (scalar, n) = Self.decode(value, at: vi)
                    if sets[s].contains(scalar) { vi += n; ti += 1; continue }
                default: break
                }
            }
            guard starT >= 0 else { return false }
            // Let the last `%` swallow one more character and retry from there.
            ti = starT + 1
            starV += Self.sequenceLength(value[starV])
            vi = starV
        }
        while ti < tokens.count, tokens[ti] == .many { ti += 1 }
        return ti == tokens.count && vi == value.count
    }

    @inline(__always)
    static func fold(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }

    static func sequenceLength(_ lead: UInt8) -> Int {
        lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    /// One UTF-8 scalar at `i` (malformed bytes decode as themselves) and its length, clamped to
    /// the buffer.
    private static func decode(_ v: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let n = min(sequenceLength(v[i]), v.count - i)
        if n == 1 { return (UInt32(v[i]), 1) }
        var scalar = UInt32(v[i]) & (0xFF >> (n + 1))
        for k in 1..<n { scalar = scalar << 6 | UInt32(v[i + k] & 0x3F) }
        return (scalar, n)
    }

    /// `[...]` after its `[`: `^` negates, `a-z` is a range, a `]` first is a member. Nil when
    /// the class never closes.
    private static func parseSet(_ p: [UInt8], from start: Int) -> (CharacterSet, Int)? {
        var set = CharacterSet(negated: false, ranges: [])
        var i = start
        if i < p.count, p[i] == UInt8(ascii: "^") { set.negated = true; i += 1 }
        var first = true
        while i < p.count {
            if p[i] == UInt8(ascii: "]"), !first { return (set, i + 1) }
            first = false
            let (lo, n) = p.withUnsafeBufferPointer { decode($0, at: i) }
            i += n
            if i + 1 < p.count, p[i] == UInt8(ascii: "-"), p[i + 1] != UInt8(ascii: "]") {
                let (hi, m) = p.withUnsafeBufferPointer { decode($0, at: i + 1) }
                i += 1 + m
                if lo <= hi { set.ranges.append(lo...hi) }  // a reversed range matches nothing
            } else {
                set.ranges.append(lo...lo)
            }
        }
        return nil
    }
}
