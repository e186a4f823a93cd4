/// A lexical view of SQL good enough to rewrite it without touching strings or comments.
struct SQLToken: Equatable {
    enum Kind { case whitespace, comment, string, quotedIdentifier, word, number, punctuation, synthesized }
    var kind: Kind
    var text: String

    init(_ kind: Kind, _ text: String) { self.kind = kind; self.text = text }

    var isSignificant: Bool { kind != .whitespace && kind != .comment }

    func isWord(_ w: String) -> Bool { kind == .word && text.caseInsensitiveCompare(w) == .orderedSame }

    var unquotedString: String {
        guard kind == .string, text.count >= 2 else { return text }
        return String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
    }

    /// Words that end or start clauses, so they are never taken as an operand's name.
    static let keywords: Set<String> = [
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "MATCH", "GLOB", "BETWEEN",
        "CASE", "WHEN", "THEN", "ELSE", "END", "ON", "AS", "BY", "GROUP", "ORDER", "HAVING", "LIMIT", "OFFSET",
        "JOIN", "UNION", "ALL", "DISTINCT", "EXISTS", "INTERVAL", "ESCAPE", "WITH", "VALUES", "SET"
    ]
}

enum SQLTokenizer {
    static func tokenize(_ sql: String) -> [SQLToken] {
        let s = Array(sql.unicodeScalars)
        var out: [SQLToken] = []
        var i = 0
        func text(_ a: Int, _ b: Int) -> String {
            var str = ""
            str.unicodeScalars.append(contentsOf: s[a..<b])
            return str
        }
        func isWordStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic }
        func isWordChar(_ c: Unicode.Scalar) -> Bool { isWordStart(c) || c == "$" || ("0"..."9").contains(c) }
        while i < s.count {
            let c = s[i]
            let start = i
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                while i < s.count, [" ", "\t", "\n", "\r"].contains(s[i]) { i += 1 }
                out.append(SQLToken(.whitespace, text(start, i)))
            } else if c == "-", i + 1 < s.count, s[i + 1] == "-" {
                while i < s.count, s[i] != "\n" { i += 1 }
                out.append(SQLToken(.comment, text(start, i)))
            } else if c == "/", i + 1 < s.count, s[i + 1] == "*" {
                i += 2
                while i < s.count, !(s[i] == "*" && i + 1 < s.count && s[i + 1] == "/") { i += 1 }
                i = min(i + 2, s.count)
                out.append(SQLToken(.comment, text(start, i)))
            } else if c == "'" || c == "\"" || c == "`" || c == "[" {
                let close: Unicode.Scalar = c == "[" ? "]" : c
                i += 1
                while i < s.count {
                    if s[i] == close {
                        if close != "]", i + 1 < s.count, s[i + 1] == close { i += 2; continue }
                        i += 1
                        break
                    }
                    i += 1
                }
                out.append(SQLToken(c == "'" ? .string : .quotedIdentifier, text(start, i)))
            } else if ("0"..."9").contains(c) || (c == "." && i + 1 < s.count && ("0"..."9").contains(s[i + 1])) {
                while i < s.count,
                    ("0"..."9").contains(s[i]) || s[i] == "." || s[i] == "e" || s[i] == "E" || s[i] == "x" || s[i] == "X"
                        || (("a"..."f").contains(s[i]) || ("A"..."F").contains(s[i]))
                { i += 1 }
                out.append(SQLToken(.number, text(start, i)))
            } else if isWordStart(c) {
                while i < s.count, isWordChar(s[i]) { i += 1 }
                out.append(SQLToken(.word, text(start, i)))
            } else {
                let two = i + 1 < s.count ? text(i, i + 2) : ""
                if ["||", "<=", ">=", "<>", "!=", "==", "::", "->", "<<", ">>"].contains(two) {
                    i += 2
                    if two == "->", i < s.count, s[i] == ">" { i += 1 }
                } else {
                    i += 1
                }
                out.append(SQLToken(.punctuation, text(start, i)))
            }
        }
        return out
    }
}

extension Array where Element == SQLToken {
    func nextSignificant(after i: Int) -> Int? {
        var j = i + 1
        while j < count { if self[j].isSignificant { return j }; j += 1 }
        return nil
    }

    func previousSignificant(before i: Int) -> Int? {
        var j = i - 1
        while j >= 0 { if self[j].isSignificant { return j }; j -= 1 }
        return nil
    }
}
