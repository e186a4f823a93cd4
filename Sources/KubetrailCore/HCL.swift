/// The subset of HCL that kubetrail's `.tpc` configuration uses: blocks with labels,
/// attributes, strings, numbers, booleans, lists and objects, `#` `//` `/* */` comments.
/// What is outside it (interpolation, heredocs, functions) is an error with a line number.
public enum HCL {
    public indirect enum Value: Equatable, Sendable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case list([Value])
        case object([(String, Value)])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.string(let x), .string(let y)): return x == y
            case (.number(let x), .number(let y)): return x == y
            case (.bool(let x), .bool(let y)): return x == y
            case (.list(let x), .list(let y)): return x == y
            case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: return false
            }
        }

        public var typeName: String {
            switch self {
            case .string: return "a string"
            case .number: return "a number"
            case .bool: return "a boolean"
            case .list: return "a list"
            case .object: return "an object"
            }
        }
    }

    public struct Attribute: Equatable, Sendable {
        public var name: String
        public var value: Value
        public var line: Int
    }

    public struct Block: Equatable, Sendable {
        public var type: String
        public var labels: [String]
        public var attributes: [Attribute]
        public var blocks: [Block]
        public var line: Int

        public func attribute(_ name: String) -> Attribute? { attributes.last { $0.name == name } }
    }

    public struct Document: Equatable, Sendable {
        public var attributes: [Attribute]
        public var blocks: [Block]
    }

    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    public static func parse(_ text: String, file: String) throws(ParseError) -> Document {
        var p = Parser(chars: Array(text.unicodeScalars), file: file)
        let (attributes, blocks) = try p.body(closing: false)
        return Document(attributes: attributes, blocks: blocks)
    }

    struct Parser {
        let chars: [Unicode.Scalar]
        let file: String
        var i = 0
        var line = 1

        func fail(_ message: String) -> ParseError { ParseError(file: file, line: line, message: message) }

        var peek: Unicode.Scalar? { i < chars.count ? chars[i] : nil }

        mutating func advance() {
            if chars[i] == "\n" { line += 1 }
            i += 1
        }

        /// Skips spaces and comments; newlines too when `newlines`.
        mutating func skip(newlines: Bool) throws(ParseError) {
            while let c = peek {
                if c == " " || c == "\t" || c == "\r" || (newlines && c == "\n") { advance(); continue }
                if c == "#" || (c == "/" && i + 1 < chars.count && chars[i + 1] == "/") {
                    while let d = peek, d != "\n" { advance() }
                    continue
                }
                if c == "/" && i + 1 < chars.count && chars[i + 1] == "*" {
                    let start = line
                    advance(); advance()
                    while true {
                        guard let d = peek else { throw ParseError(file: file, line: start, message: "comment not closed") }
                        if d == "*" && i + 1 < chars.count && chars[i + 1] == "/" { advance(); advance(); break }
                        advance()
                    }
                    continue
                }
                return
            }
        }

        static func isIdentStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isAlphabetic }
        static func isIdent(_ c: Unicode.Scalar) -> Bool { isIdentStart(c) || c == "-" || ("0"..."9").contains(c) }

        mutating func identifier() -> String? {
            guard let c = peek, Parser.isIdentStart(c) else { return nil }
            var s = ""
            while let c = peek, Parser.isIdent(c) { s.unicodeScalars.append(c); advance() }
            return s
        }

        mutating func body(closing: Bool) throws(ParseError) -> ([Attribute], [Block]) {
            var attributes: [Attribute] = []
            var blocks: [Block] = []
            while true {
                try skip(newlines: true)
                guard let c = peek else {
                    if closing { throw fail("block not closed: missing '}'") }
                    return (attributes, blocks)
                }
                if c == "}" {
                    guard closing else { throw fail("unexpected '}'") }
                    advance()
                    return (attributes, blocks)
                }
                let startLine = line
                guard let name = identifier() else { throw fail("expected an attribute or block name, found '\(Character(c))'") }
                try skip(newlines: false)
                if peek == "=" {
                    advance()
                    try skip(newlines: false)
                    if peek == nil || peek == "\n" || peek == "}" { throw fail("expected a value for \(name)") }
                    let value = try expression()
                    attributes.append(Attribute(name: name, value: value, line: startLine))
                    try skip(newlines: false)
                    if let d = peek, d != "\n", d != "}" { throw fail("unexpected '\(Character(d))' after the value of \(name)") }
                    continue
                }
                var labels: [String] = []
                while let d = peek, d != "{" {
                    if d == "\"" {
                        labels.append(try string())
                    } else if let ident = identifier() {
                        labels.append(ident)
                    } else {
                        throw fail("expected '=' or '{' after \(name)")
                    }
                    try skip(newlines: false)
                }
                guard peek == "{" else { throw fail("expected '{' to open block \(name)") }
                advance()
                let (a, b) = try body(closing: true)
                blocks.append(Block(type: name, labels: labels, attributes: a, blocks: b, line: startLine))
            }
        }

        mutating func expression() throws(ParseError) -> Value {
            guard let c = peek else { throw fail("expected a value") }
            switch c {
            case "\"": return .string(try string())
            case "[":
                advance()
                var items: [Value] = []
                while true {
                    try skip(newlines: true)
                    if peek == "]" { advance(); return .list(items) }
                    items.append(try expression())
                    try skip(newlines: true)
                    if peek == "," { advance(); continue }
                    guard peek == "]" else { throw fail("expected ',' or ']' in list") }
                }
            case "{":
                advance()
                var pairs: [(String, Value)] = []
                while true {
                    try skip(newlines: true)
                    if peek == "}" { advance(); return .object(pairs) }
                    let key: String
                    if peek == "\"" { key = try string() } else if let k = identifier() { key = k } else { throw fail("expected a key in object") }
                    try skip(newlines: false)
                    guard peek == "=" || peek == ":" else { throw fail("expected '=' after \(key)") }
                    advance()
                    try skip(newlines: false)
                    pairs.append((key, try expression()))
                    try skip(newlines: false)
                    if peek == "," { advance() }
                }
            case "-", "0"..."9":
                var s = ""
                while let d = peek, d == "-" || d == "." || d == "e" || d == "E" || d == "+" || ("0"..."9").contains(d) {
                    s.unicodeScalars.append(d); advance()
                }
                guard let n = Double(s) else { throw fail("invalid number \(s)") }
                return .number(n)
            case "<": throw fail("heredoc strings are not supported")
            default:
                guard let word = identifier() else { throw fail("unexpected '\(Character(c))'") }
                switch word {
                case "true": return .bool(true)
                case "false": return .bool(false)
                default: throw fail("unknown value \(word) (strings need quotes)")
                }
            }
        }

        mutating func string() throws(ParseError) -> String {
            let start = line
            advance()
            var s = ""
            while true {
                guard let c = peek, c != "\n" else { throw ParseError(file: file, line: start, message: "string not closed") }
                advance()
                if c == "\"" { return s }
                if c == "$", peek == "{" { throw fail("interpolation (${…}) is not supported") }
                if c == "\\" {
                    guard let e = peek else { continue }
                    advance()
                    switch e {
                    case "n": s += "\n"
                    case "t": s += "\t"
                    case "\"": s += "\""
                    case "\\": s += "\\"
                    default: throw fail("unknown escape \\\(Character(e))")
                    }
                    continue
                }
                s.unicodeScalars.append(c)
            }
        }
    }
}
