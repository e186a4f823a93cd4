/// Reads the severity a single line of container output declares.
///
/// This runs on every ingested line, so it scans the raw UTF-8 bytes, allocates
/// nothing and looks only where log formats put a level: a top-level JSON key,
/// a logfmt key, a klog header, or the first words of the line (after any
/// timestamp, pid or bracketed context). A level word anywhere else is prose
/// ("dial tcp: i/o timeout error returned") and is ignored, as Fluent Bit,
/// Vector and Datadog parsers ignore it: they match a position, not a word.
public enum LogLevelDetector {
    /// The level a log line declares, or nil when it declares none.
    public static func detect(_ message: String) -> LogLevel? {
        var message = message
        return message.withUTF8 { detect(utf8: $0) }
    }

    static func detect(utf8 b: UnsafeBufferPointer<UInt8>) -> LogLevel? {
        let bom = b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF
        let i = skipBlanks(b, bom ? 3 : 0, b.count)
        guard i < b.count else { return nil }
        if b[i] == .lbrace { return json(b, i + 1) }
        // Leading words count only within this window, which also bounds the work on huge lines.
        return klog(b, i) ?? leadingWords(b, i, min(b.count, i + 320), nested: false) ?? logfmt(b)
    }

    // MARK: Vocabulary

    private enum Word: Sendable {
        case level(LogLevel)
        /// PostgreSQL's `LOG:` / `DETAIL:` are ordinary English words, so they count only as an upper-case `WORD:`.
        case prefix(LogLevel)
        /// Month and weekday names, which redis and syslog timestamps spell out.
        case date
    }

    private static let words: [UInt64: Word] = {
        var table: [UInt64: Word] = [:]
        func add(_ word: Word, _ names: String) {
            for name in names.split(separator: " ") { table[key(name.utf8)!] = word }
        }
        // Spellings from syslog, log4j, java.util.logging, zerolog, logrus, Serilog, RabbitMQ,
        // MySQL and Elasticsearch, whose DEPRECATION level ranks as WARN.
        add(.level(.trace), "trace trc verbose finer finest")
        add(.level(.debug), "debug dbg fine")
        add(.level(.info), "info inf information informational notice noti note")
        add(.level(.warn), "warn warning wrn deprecation")
        add(.level(.error), "error err erro eror severe")
        add(.level(.fatal), "fatal ftl crit critical panic pnc emerg emergency alert")
        // ops-agent maps DETAIL and STATEMENT to DEBUG; HINT, CONTEXT, QUERY, LOCATION are the same kind of line.
        add(.prefix(.info), "log")
        add(.prefix(.debug), "detail statement hint context query location")
        add(.date, "jan feb mar apr may jun jul aug sep oct nov dec mon tue wed thu fri sat sun")
        return table
    }()

    private static let bunyan: [LogLevel] = [.trace, .debug, .info, .warn, .error, .fatal]

    /// Up to 13 letters, case-folded, packed base 27 into one integer, so a lookup hashes no string.
    private static func key<C: Collection<UInt8>>(_ bytes: C) -> UInt64? {
        guard (1...13).contains(bytes.count) else { return nil }
        var k: UInt64 = 0
        for c in bytes {
            guard (c | 0x20) >= 0x61, (c | 0x20) <= 0x7A else { return nil }
            k = k &* 27 &+ UInt64((c | 0x20) - 0x60)
        }
        return k
    }

    private static func lookup(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Word? {
        key(b[s..<e]).flatMap { words[$0] }
    }

    private static func levelWord(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> LogLevel? {
        if case .level(let level)? = lookup(b, s, e) { return level }
        return nil
    }

    /// One-letter codes (klog, capnslog, MongoDB, SAP HANA) and MongoDB's `D1`…`D5`.
    private static func letterCode(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> LogLevel? {
        if e - s == 2, b[s] | 0x20 == UInt8(ascii: "d"), (0x31...0x35).contains(b[s + 1]) { return .debug }
        guard e - s == 1 else { return nil }
        switch b[s] | 0x20 {
        case UInt8(ascii: "t"): return .trace
        case UInt8(ascii: "d"): return .debug
        case UInt8(ascii: "i"), UInt8(ascii: "n"): return .info
        case UInt8(ascii: "w"): return .warn
        case UInt8(ascii: "e"): return .error
        case UInt8(ascii: "f"), UInt8(ascii: "c"): return .fatal
        default: return nil
        }
    }

    // MARK: Formats

    /// klog / glog: `E0102 15:04:05.123456 ...`.
    private static func klog(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> LogLevel? {
        guard b.count - i >= 9, b[i + 5] == .space, b[i + 8] == .colon,
            !(i + 1...i + 7).contains(where: { $0 != i + 5 && !b[$0].isDigit })
        else { return nil }
        switch b[i] {
        case UInt8(ascii: "I"), UInt8(ascii: "W"), UInt8(ascii: "E"), UInt8(ascii: "F"): return letterCode(b, i, i + 1)
        default: return nil
        }
    }

    private enum Redis { case none, pid, role }

    /// Walks the first tokens, skipping what precedes a level in common layouts (timestamps,
    /// zones, pids, `[thread]`, `{…}`, separators, up to two logger names) and stopping at prose.
    private static func leadingWords(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, nested: Bool) -> LogLevel? {
        var i = start, tokens = 0, skipped = 0
        var sawTime = false, afterTime = false, redis = Redis.none
        while tokens < 16 {
            i = skipBlanks(b, i, end)
            guard i < end else { return nil }
            tokens += 1
            let c = b[i]
            if c == .lbracket || c == .lparen || c == .lbrace || c == .less {
                guard let close = closing(b, i, end) else { return nil }
                afterTime = false
                if c == .lbracket {
                    if let level = bracketed(b, i + 1, close) { return level }
                    // env_logger: `[2024-01-01T00:00:00Z INFO  app] …`.
                    if !nested, b[i + 1].isDigit, let level = leadingWords(b, i + 1, close, nested: true) { return level }
                    if tokens == 1 { redis = redisPrefix(b, i + 1, close, bracketed: true) }
                    afterTime = contains(b, i + 1, close, .colon) && b[close - 1].isDigit
                    sawTime = sawTime || afterTime
                }
                i = close + 1
                continue
            }
            let t = tokenEnd(b, i, end)
            if c.isDigit || ((c == .plus || c == .minus) && i + 1 < t && b[i + 1].isDigit) {
                let role = tokens == 1 ? redisPrefix(b, i, t, bracketed: false) : .none
                if role != .none {
                    redis = role
                } else {
                    afterTime = contains(b, i, t, .colon)
                    sawTime = sawTime || afterTime || contains(b, i, t, .minus) || contains(b, i, t, .slash)
                }
            } else if isPunctuation(b, i, t) {
                if t - i == 1, afterTime, let level = redisMarker(c, redis) { return level }
                afterTime = false
            } else {
                if afterTime, let level = letterCode(b, i, t) { return level }
                var w = i
                while w < t, b[w].isLetter { w += 1 }
                // PostgreSQL's DEBUG1…DEBUG5.
                let next = w < t && (0x31...0x35).contains(b[w]) && equalsFolded(b, i, w, "debug") ? w + 1 : w
                switch lookup(b, i, w) {
                case .level(let level)? where accepted(b, i, w, next, sawTime: sawTime): return level
                case .prefix(let level)? where allUpper(b, i, w) && w < b.count && b[w] == .colon: return level
                case .date?: afterTime = false
                default:
                    if sawTime, w == t, isZone(b, i, w) { break }
                    guard sawTime, skipped < 2, isIdentifier(b, i, t) || separatorFollows(b, t, end) else { return nil }
                    skipped += 1
                    afterTime = false
                }
            }
            i = t
        }
        return nil
    }

    /// Upper case marks a level label; other spellings need a colon (`error: …`) or, after a
    /// timestamp, to be all lower case, so that "Alert rule fired" stays prose.
    private static func accepted(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ w: Int, _ next: Int, sawTime: Bool) -> Bool {
        let term = next < b.count ? b[next] : UInt8.space
        if term == .colon { return true }
        if allUpper(b, s, w) {
            switch term {
            case .space, .tab, .cr, .lf, .escape, .lbracket, .rbracket, .pipe, .comma, .semicolon, .rparen, .greater: return true
            default: return false
            }
        }
        return sawTime && (term == .space || term == .tab) && !(s..<w).contains { b[$0] < 0x61 }
    }

    /// `[ERROR]`, `[core:error]`, `[ns_server:info,2025-…]`, `[info     ]`.
    private static func bracketed(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> LogLevel? {
        var lo = s, hi = (s..<e).first { b[$0] == .comma } ?? e
        if let colon = (lo..<hi).last(where: { b[$0] == .colon }) { lo = colon + 1 }
        while lo < hi, b[lo] == .space { lo += 1 }
        while hi > lo, b[hi - 1] == .space { hi -= 1 }
        return levelWord(b, lo, hi)
    }

    /// Redis: `1:M 18 Jul 2025 19:08:05.257 * Ready` (pid and role letter), or `[1234] …` before 3.0.
    private static func redisPrefix(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, bracketed: Bool) -> Redis {
        var j = s
        while j < e, b[j].isDigit { j += 1 }
        guard j > s else { return .none }
        if j == e { return bracketed ? .pid : .none }
        guard j + 2 == e, b[j] == .colon else { return .none }
        return "MSCX".utf8.contains(b[j + 1]) ? .role : .none
    }

    /// Redis marks notice `*`, warning `#`, verbose `-` and debug `.` right after the clock.
    private static func redisMarker(_ c: UInt8, _ redis: Redis) -> LogLevel? {
        switch c {
        case UInt8(ascii: "*") where redis != .none: return .info
        case UInt8(ascii: "#") where redis != .none: return .warn
        case UInt8(ascii: "."), UInt8(ascii: "-"): return redis == .role ? .debug : nil
        default: return nil
        }
    }

    /// Top-level keys only: a nested `"level"` describes something else.
    private static func json(_ b: UnsafeBufferPointer<UInt8>, _ start: Int) -> LogLevel? {
        var i = start
        while true {
            i = skipBlanks(b, i, b.count)
            guard i < b.count, b[i] == .quote, let keyEnd = stringEnd(b, i + 1) else { return nil }
            let field = jsonField(b, i + 1, keyEnd)
            i = skipBlanks(b, keyEnd + 1, b.count)
            guard i < b.count, b[i] == .colon else { return nil }
            i = skipBlanks(b, i + 1, b.count)
            guard i < b.count else { return nil }
            if field != .other, let level = jsonLevel(b, i, field) { return level }
            guard let next = valueEnd(b, i) else { return nil }
            i = skipBlanks(b, next, b.count)
            guard i < b.count, b[i] == .comma else { return nil }
            i += 1
        }
    }

    private enum JSONField { case other, level, named, mongo }

    private static func jsonField(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> JSONField {
        if e - s == 1 { return b[s] == UInt8(ascii: "s") ? .mongo : .other }
        if equalsFolded(b, s, e, "level") { return .level }
        let named =
            equalsFolded(b, s, e, "lvl") || equalsFolded(b, s, e, "severity")
            || equalsFolded(b, s, e, "log.level") || equalsFolded(b, s, e, "loglevel")
            || equalsFolded(b, s, e, "log_level") || equalsFolded(b, s, e, "levelname") || equalsFolded(b, s, e, "@l")
        return named ? .named : .other
    }

    private static func jsonLevel(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ field: JSONField) -> LogLevel? {
        if b[i] == .quote, var e = stringEnd(b, i + 1) {
            var s = i + 1
            while s < e, b[s] == .space { s += 1 }
            while e > s, b[e - 1] == .space { e -= 1 }
            // MongoDB's `"s"` is too short a key to trust with anything but its own codes.
            return letterCode(b, s, e) ?? (field == .mongo ? nil : levelWord(b, s, e))
        }
        guard field == .level, b[i].isDigit else { return nil }
        // bunyan / pino numbers: 10 trace … 60 fatal; pino's custom levels fall between.
        var value = 0, j = i
        while j < b.count, b[j].isDigit, value < 100 { value = value * 10 + Int(b[j] - 0x30); j += 1 }
        return (10..<70).contains(value) ? bunyan[value / 10 - 1] : nil
    }

    /// logfmt `level=warn`, `lvl="info"`: a whole key (at the start or after a blank) anywhere in the line.
    private static func logfmt(_ b: UnsafeBufferPointer<UInt8>) -> LogLevel? {
        var i = 0
        while i < b.count {
            defer { i += 1 }
            guard b[i] == .equals else { continue }
            var k = i
            while k > 0, i - k < 10, !b[k - 1].isBlank { k -= 1 }
            guard k == 0 || b[k - 1].isBlank,
                equalsFolded(b, k, i, "level") || equalsFolded(b, k, i, "lvl")
                    || equalsFolded(b, k, i, "severity") || equalsFolded(b, k, i, "log.level")
            else { continue }
            let s = i + 1 < b.count && b[i + 1] == .quote ? i + 2 : i + 1
            var e = s
            while e < b.count, b[e].isLetter { e += 1 }
            if let level = levelWord(b, s, e) { return level }
        }
        return nil
    }

    // MARK: Byte helpers

    private static func skipBlanks(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        var i = start
        while i < end {
            if b[i].isBlank { i += 1; continue }
            // Coloured console output (zap dev, logrus, tracing): skip `ESC [ … m`.
            guard b[i] == .escape else { break }
            i += 1
            if i < end, b[i] == .lbracket { i += 1 }
            while i < end, !(0x40...0x7E).contains(b[i]) { i += 1 }
            i += 1
        }
        return min(i, end)
    }

    private static func tokenEnd(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        var i = start
        while i < end, !b[i].isBlank, b[i] != .escape { i += 1 }
        return i
    }

    /// The index of `b[open]`'s partner, counting nested pairs of the same kind.
    private static func closing(_ b: UnsafeBufferPointer<UInt8>, _ open: Int, _ end: Int) -> Int? {
        let opener = b[open]
        let closer = opener == .lparen ? UInt8.rparen : opener + 2  // `[]`, `{}` and `<>` are two code points apart
        var depth = 0
        for j in open..<end {
            if b[j] == opener { depth += 1 } else if b[j] == closer { depth -= 1; if depth == 0 { return j } }
        }
        return nil
    }

    /// The index of the closing quote of a JSON string whose body starts at `start`.
    private static func stringEnd(_ b: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int? {
        var j = start
        while j < b.count {
            if b[j] == .quote { return j }
            j += b[j] == .backslash ? 2 : 1
        }
        return nil
    }

    /// Where the JSON value at `i` ends; iterative, so deep nesting cannot exhaust the stack.
    private static func valueEnd(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        var depth = 0, j = i
        while j < b.count {
            switch b[j] {
            case .quote:
                guard let e = stringEnd(b, j + 1) else { return nil }
                j = e
            case .lbrace, .lbracket: depth += 1
            case .rbrace, .rbracket:
                if depth == 0 { return j }
                depth -= 1
            case .comma where depth == 0: return j
            default: if depth == 0 && b[j].isBlank { return j }
            }
            j += 1
        }
        return depth == 0 ? j : nil
    }

    private static func contains(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, _ c: UInt8) -> Bool {
        (s..<e).contains { b[$0] == c }
    }

    private static func allUpper(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        s < e && !(s..<e).contains { b[$0] >= 0x61 }
    }

    /// Time zones and AM/PM after a clock: `UTC`, `CEST`, `PM`.
    private static func isZone(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        (2...5).contains(e - s) && allUpper(b, s, e) && "TCM".utf8.contains(b[e - 1])
    }

    /// Logger names, `file.go:42:`, `user@db`: metadata rather than prose.
    private static func isIdentifier(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        (s..<(e - 1)).contains { b[$0].isDigit || "._@/#=:".utf8.contains(b[$0]) }
    }

    /// Python's `%(asctime)s - %(name)s - %(levelname)s`: a name followed by ` - ` or ` | `.
    private static func separatorFollows(_ b: UnsafeBufferPointer<UInt8>, _ t: Int, _ end: Int) -> Bool {
        let i = skipBlanks(b, t, end)
        return i > t && i < end && (b[i] == .minus || b[i] == .pipe) && (i + 1 == end || b[i + 1].isBlank)
    }

    private static func isPunctuation(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Bool {
        !(s..<e).contains { b[$0] >= 0x80 || b[$0].isLetter || b[$0].isDigit || b[$0] == .quote || b[$0] == .apostrophe }
    }

    private static func equalsFolded(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, _ lower: StaticString) -> Bool {
        guard e - s == lower.utf8CodeUnitCount else { return false }
        return !(0..<(e - s)).contains { j in (b[s + j] >= 0x41 && b[s + j] <= 0x5A ? b[s + j] | 0x20 : b[s + j]) != lower.utf8Start[j] }
    }
}

// Computed rather than stored, so every use folds to a literal.
private extension UInt8 {
    static var tab: UInt8 { 0x09 }; static var lf: UInt8 { 0x0A }; static var cr: UInt8 { 0x0D }
    static var escape: UInt8 { 0x1B }; static var space: UInt8 { 0x20 }; static var quote: UInt8 { 0x22 }
    static var apostrophe: UInt8 { 0x27 }; static var lparen: UInt8 { 0x28 }; static var rparen: UInt8 { 0x29 }
    static var plus: UInt8 { 0x2B }; static var comma: UInt8 { 0x2C }; static var minus: UInt8 { 0x2D }
    static var slash: UInt8 { 0x2F }; static var colon: UInt8 { 0x3A }; static var semicolon: UInt8 { 0x3B }
    static var less: UInt8 { 0x3C }; static var equals: UInt8 { 0x3D }; static var greater: UInt8 { 0x3E }
    static var lbracket: UInt8 { 0x5B }; static var backslash: UInt8 { 0x5C }; static var rbracket: UInt8 { 0x5D }
    static var lbrace: UInt8 { 0x7B }; static var pipe: UInt8 { 0x7C }; static var rbrace: UInt8 { 0x7D }

    var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    var isLetter: Bool { (self | 0x20) >= 0x61 && (self | 0x20) <= 0x7A }
    var isBlank: Bool { self == .space || self == .tab || self == .cr || self == .lf }
}
