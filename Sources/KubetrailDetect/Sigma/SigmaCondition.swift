import Foundation

/// A rule's `condition`, parsed: searches combined with `and`, `or`, `not` and parentheses, and
/// `1 of` / `all of` a pattern of search names (or `them`), resolved against the rule's searches.
public indirect enum SigmaCondition: Equatable, Sendable {
    case search(String)
    case not(SigmaCondition)
    case and([SigmaCondition])
    case or([SigmaCondition])

    /// Parses `text` over the searches `names`; errors name `file` and `line` (the condition's).
    public static func parse(_ text: String, searches names: [String], file: String, line: Int?) throws -> SigmaCondition {
        var parser = Parser(tokens: try tokenize(text, file: file, line: line), names: names, file: file, line: line)
        let condition = try parser.parseOr()
        if let extra = parser.peek {
            if case .pipe = extra { throw parser.error(extra, Parser.aggregation) }
            throw parser.error(extra, "unexpected after the end of the condition")
        }
        return condition
    }

    enum Token: Equatable {
        case word(String)
        case open, close
        /// `|`: an aggregation (`| count() > 5`), deprecated in Sigma and not supported.
        case pipe(String)
    }

    static func tokenize(_ text: String, file: String, line: Int?) throws -> [Token] {
        var tokens: [Token] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c.isWhitespace { i = text.index(after: i); continue }
            if c == "(" { tokens.append(.open); i = text.index(after: i); continue }
            if c == ")" { tokens.append(.close); i = text.index(after: i); continue }
            if c == "|" { tokens.append(.pipe(text[i...].trimmingCharacters(in: .whitespaces))); break }
            var j = i
            while j < text.endIndex, !text[j].isWhitespace, !"()|".contains(text[j]) { j = text.index(after: j) }
            tokens.append(.word(String(text[i..<j])))
            i = j
        }
        guard !tokens.isEmpty else { throw SigmaError(file: file, line: line, construct: "condition", "is empty") }
        return tokens
    }

    struct Parser {
        var tokens: [Token]
        var position = 0
        let names: [String]
        let file: String
        let line: Int?

        init(tokens: [Token], names: [String], file: String, line: Int?) {
            self.tokens = tokens
            self.names = names
            self.file = file
            self.line = line
        }

        static let aggregation = "aggregations in the condition are not supported (deprecated in Sigma, and counted over time, not per event)"

        var peek: Token? { position < tokens.count ? tokens[position] : nil }

        mutating func next() -> Token? {
            defer { position += 1 }
            return peek
        }

        func error(_ token: Token?, _ message: String) -> SigmaError {
            let construct: String
            switch token {
            case .word(let w): construct = w
            case .open: construct = "("
            case .close: construct = ")"
            case .pipe(let p): construct = p
            case nil: construct = "condition"
            }
            return SigmaError(file: file, line: line, construct: construct, message)
        }

        func isKeyword(_ token: Token?, _ word: String) -> Bool {
            if case .word(let w) = token { return w.lowercased() == word }
            return false
        }

        // `or` binds looser than `and`, which binds looser than `not`.
        mutating func parseOr() throws -> SigmaCondition { try parseChain("or", { try $0.parseAnd() }, SigmaCondition.or) }
        mutating func parseAnd() throws -> SigmaCondition { try parseChain("and", { try $0.parseNot() }, SigmaCondition.and) }

        /// `term (keyword term)*`, one term left as it is.
        mutating func parseChain(
            _ keyword: String, _ term: (inout Parser) throws -> SigmaCondition,
            _ combine: ([SigmaCondition]) -> SigmaCondition
        ) throws -> SigmaCondition {
            var terms = [try term(&self)]
            while isKeyword(peek, keyword) {
                position += 1
                terms.append(try term(&self))
            }
            return terms.count == 1 ? terms[0] : combine(terms)
        }

        mutating func parseNot() throws -> SigmaCondition {
            if isKeyword(peek, "not") {
                position += 1
                return .not(try parseNot())
            }
            return try parsePrimary()
        }

        mutating func parsePrimary() throws -> SigmaCondition {
            let token = next()
            switch token {
            case .open:
                let inner = try parseOr()
                guard next() == .close else { throw error(tokens.last, "a parenthesis is not closed") }
                return inner
            case .pipe:
                throw error(token, Self.aggregation)
            case .word(let w) where ["1", "any", "all"].contains(w.lowercased()) && isKeyword(peek, "of"):
                position += 1
                guard case .word(let pattern) = next() else { throw error(token, "needs a search name, a pattern or `them` after `of`") }
                let matched = pattern.lowercased() == "them" ? names.filter { !$0.hasPrefix("_") } : names.filter { Self.matches(pattern, $0) }
                guard !matched.isEmpty else { throw error(.word(pattern), "no search of this rule is named like it") }
                let searches = matched.map(SigmaCondition.search)
                if w.lowercased() == "all" { return searches.count == 1 ? searches[0] : .and(searches) }
                return searches.count == 1 ? searches[0] : .or(searches)
            case .word(let w):
                guard !["and", "or", "not", "of"].contains(w.lowercased()) else { throw error(token, "is a keyword where a search was expected") }
                guard names.contains(w) else { throw error(token, "no search of this rule has this name") }
                return .search(w)
            case .close:
                throw error(token, "a parenthesis closes nothing")
            case nil:
                throw error(nil, "ends where a search was expected")
            }
        }

        /// A search-name pattern: `*` matches any run of characters (Sigma's only wildcard here).
        static func matches(_ pattern: String, _ name: String) -> Bool {
            let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
            guard parts.count > 1 else { return pattern == name }
            guard name.hasPrefix(parts[0]), name.hasSuffix(parts[parts.count - 1]),
                name.count >= parts[0].count + parts[parts.count - 1].count
            else { return false }
            var rest = Substring(name.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count))
            for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
                guard let r = rest.range(of: middle) else { return false }
                rest = rest[r.upperBound...]
            }
            return true
        }
    }
}
