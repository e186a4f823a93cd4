import KubetrailTables

/// Rewrites the PostgreSQL/DuckDB-flavoured SQL of the product README into SQLite SQL.
///
/// Timestamps are stored as fixed-width `YYYY-MM-DDTHH:MM:SS.ffffffZ` text, so comparison is
/// text comparison and an index serves it — as long as every timestamp on the other side has
/// the same shape. Hence: `NOW()`/`CURRENT_TIMESTAMP` become one literal fixed when the query
/// starts, `literal ± INTERVAL '…'` is folded into a literal, other `x ± INTERVAL` becomes
/// `kt_ts_add(x, µs)`, and string literals that hold a date *and* time are rewritten to the
/// canonical form. Anything it cannot rewrite safely is an error, never a guess.
public enum SQLDialect {
    public static func translate(_ sql: String, now: Timestamp) throws(SQLDialectError) -> String {
        var tokens = SQLTokenizer.tokenize(sql)
        let nowLiteral = "'" + now.iso8601 + "'"

        // NOW() and CURRENT_TIMESTAMP → the query's start time.
        var i = 0
        while i < tokens.count {
            if tokens[i].isWord("NOW"), let open = tokens.nextSignificant(after: i), tokens[open].text == "(",
                let close = tokens.nextSignificant(after: open), tokens[close].text == ")"
            {
                tokens.replaceSubrange(i...close, with: [SQLToken(.string, nowLiteral)])
            } else if tokens[i].isWord("CURRENT_TIMESTAMP") {
                var end = i
                if let open = tokens.nextSignificant(after: i), tokens[open].text == "(",
                    let close = tokens.nextSignificant(after: open), tokens[close].text == ")"
                {
                    end = close
                }
                tokens.replaceSubrange(i...end, with: [SQLToken(.string, nowLiteral)])
            } else if tokens[i].kind == .string, let canonical = canonicalTimestampLiteral(tokens[i].text) {
                tokens[i] = SQLToken(.string, canonical)
            } else if tokens[i].isWord("ILIKE") {
                tokens[i] = SQLToken(.word, "MATCH")
            }
            i += 1
        }

        // INTERVAL arithmetic, left to right so chains fold one step at a time.
        i = 0
        while i < tokens.count {
            guard tokens[i].isWord("INTERVAL") else { i += 1; continue }
            let (micros, intervalEnd) = try parseInterval(tokens, at: i)
            guard let op = tokens.previousSignificant(before: i), tokens[op].text == "+" || tokens[op].text == "-" else {
                throw .unsupported("INTERVAL must be added to or subtracted from a timestamp, as in `ts - INTERVAL '1 hour'`")
            }
            guard let operandEnd = tokens.previousSignificant(before: op),
                let operandStart = operandStart(tokens, endingAt: operandEnd)
            else {
                throw .unsupported("INTERVAL must follow a timestamp expression, as in `ts - INTERVAL '1 hour'`")
            }
            if let before = tokens.previousSignificant(before: operandStart),
                ["+", "-", "*", "/", "%", "||"].contains(tokens[before].text)
            {
                throw .unsupported("put parentheses around the timestamp expression before `\(tokens[op].text) INTERVAL`")
            }
            let delta = tokens[op].text == "-" ? -micros : micros
            let replacement: SQLToken
            if operandStart == operandEnd, tokens[operandStart].kind == .string,
                let t = TimestampLiteral.parse(tokens[operandStart].unquotedString)
            {
                let result = t.adding(microseconds: delta)
                guard result.isWithinTextRange else { throw .invalidInterval("the result is outside the years 0000–9999") }
                replacement = SQLToken(.string, "'" + result.iso8601 + "'")
            } else {
                let operand = tokens[operandStart...operandEnd].map(\.text).joined()
                replacement = SQLToken(.synthesized, "kt_ts_add(\(operand), \(delta))")
            }
            tokens.replaceSubrange(operandStart...intervalEnd, with: [replacement])
            i = operandStart + 1
        }
        return tokens.map(\.text).joined()
    }

    /// The canonical form of a literal holding a date and a time; nil for anything else.
    static func canonicalTimestampLiteral(_ quoted: String) -> String? {
        let text = SQLToken(.string, quoted).unquotedString
        guard text.count >= 19, text.count <= 40, text.utf8.dropFirst(10).first.map({ $0 == 0x54 || $0 == 0x20 || $0 == 0x74 }) == true,
            let t = TimestampLiteral.parse(text)
        else { return nil }
        return "'" + t.iso8601 + "'"
    }

    /// `INTERVAL '1 hour'`, `INTERVAL '90 minutes'`, `INTERVAL '1' HOUR`, `INTERVAL 1 HOUR`, `INTERVAL '01:30:00'`.
    static func parseInterval(_ tokens: [SQLToken], at i: Int) throws(SQLDialectError) -> (Int64, Int) {
        guard let v = tokens.nextSignificant(after: i) else { throw .invalidInterval("INTERVAL without a value") }
        var text: String
        var end = v
        switch tokens[v].kind {
        case .string: text = tokens[v].unquotedString
        case .number: text = tokens[v].text
        default: throw .invalidInterval("INTERVAL needs a quoted value such as '1 hour'")
        }
        if let u = tokens.nextSignificant(after: v), tokens[u].kind == .word, IntervalUnit.isUnit(tokens[u].text),
            !text.contains(where: { $0.isLetter })
        {
            text += " " + tokens[u].text
            end = u
        }
        return (try IntervalUnit.microseconds(in: text), end)
    }

    /// Start of the primary expression ending at `end`: a literal, a (qualified) name, or a
    /// parenthesised group with its function name.
    static func operandStart(_ tokens: [SQLToken], endingAt end: Int) -> Int? {
        switch tokens[end].kind {
        case .string, .number, .synthesized:
            return end
        case .word, .quotedIdentifier:
            if tokens[end].kind == .word, SQLToken.keywords.contains(tokens[end].text.uppercased()) { return nil }
            var start = end
            while let dot = tokens.previousSignificant(before: start), tokens[dot].text == ".",
                let qualifier = tokens.previousSignificant(before: dot),
                tokens[qualifier].kind == .word || tokens[qualifier].kind == .quotedIdentifier
            {
                start = qualifier
            }
            return start
        case .punctuation where tokens[end].text == ")":
            var depth = 0
            var j = end
            while j >= 0 {
                if tokens[j].text == ")" { depth += 1 }
                if tokens[j].text == "(" {
                    depth -= 1
                    if depth == 0 { break }
                }
                j -= 1
            }
            guard j >= 0 else { return nil }
            if let name = tokens.previousSignificant(before: j), tokens[name].kind == .word,
                !SQLToken.keywords.contains(tokens[name].text.uppercased())
            {
                return name
            }
            return j
        default:
            return nil
        }
    }
}

public enum SQLDialectError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidInterval(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidInterval(let m): return "invalid INTERVAL: \(m)"
        case .unsupported(let m): return m
        }
    }
}

enum IntervalUnit {
    static func multiplier(_ unit: String) -> Double? {
        switch unit.lowercased() {
        case "us", "usec", "usecs", "microsecond", "microseconds": return 1
        case "ms", "msec", "msecs", "millisecond", "milliseconds": return 1_000
        case "s", "sec", "secs", "second", "seconds": return 1_000_000
        case "m", "min", "mins", "minute", "minutes": return 60_000_000
        case "h", "hr", "hrs", "hour", "hours": return 3_600_000_000
        case "d", "day", "days": return 86_400_000_000
        case "w", "week", "weeks": return 604_800_000_000
        default: return nil
        }
    }

    static func isUnit(_ unit: String) -> Bool {
        multiplier(unit) != nil || ["month", "months", "mon", "mons", "year", "years", "y"].contains(unit.lowercased())
    }

    static func microseconds(in text: String) throws(SQLDialectError) -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        // 'HH:MM[:SS]' as PostgreSQL accepts it.
        if trimmed.contains(":") {
            let parts = trimmed.split(separator: ":")
            guard parts.count == 2 || parts.count == 3, let h = Double(parts[0]), let m = Double(parts[1]),
                let s = parts.count == 3 ? Double(parts[2]) : 0
            else { throw .invalidInterval("cannot read '\(text)'") }
            return try checked((h * 3600 + m * 60 + s) * 1_000_000, text)
        }
        var total = 0.0
        var words = trimmed.split(whereSeparator: { $0 == " " }).map(String.init)
        // Allow '2h' / '15m' / '1.5hours'.
        words = words.flatMap { w -> [String] in
            guard let split = w.firstIndex(where: { $0.isLetter }), split != w.startIndex else { return [w] }
            return [String(w[..<split]), String(w[split...])]
        }
        guard !words.isEmpty, words.count % 2 == 0 else {
            throw .invalidInterval("expected '<number> <unit>' pairs, got '\(text)'")
        }
        var k = 0
        while k < words.count {
            guard let n = Double(words[k]) else { throw .invalidInterval("'\(words[k])' is not a number in '\(text)'") }
            guard let mult = multiplier(words[k + 1]) else {
                let unit = words[k + 1].lowercased()
                if unit.hasPrefix("mon") || unit.hasPrefix("y") {
                    throw .invalidInterval("months and years have no fixed length; use days (e.g. INTERVAL '30 days')")
                }
                throw .invalidInterval("unknown unit '\(words[k + 1])' (use seconds, minutes, hours, days or weeks)")
            }
            total += n * mult
            k += 2
        }
        return try checked(total, text)
    }

    /// Converting a non-finite or out-of-range Double to Int64 would trap.
    static func checked(_ micros: Double, _ text: String) throws(SQLDialectError) -> Int64 {
        // ±100,000 years in microseconds: far beyond any timestamp, far inside Int64.
        guard micros.isFinite, abs(micros) < 3.2e18 else { throw .invalidInterval("'\(text)' is out of range") }
        return Int64(micros.rounded())
    }
}

import Foundation
