/// Typed reads of a configuration block's attributes, with errors that name the file, line and
/// option — shared by every component's block (`aggregator { … }`, `agent { … }`).
public struct HCLOptions: Sendable {
    public let file: String

    public init(file: String) { self.file = file }

    public func error(_ line: Int, _ message: String) -> HCL.ParseError {
        HCL.ParseError(file: file, line: line, message: message)
    }

    public func string(_ a: HCL.Attribute) throws(HCL.ParseError) -> String {
        guard case .string(let s) = a.value else { throw error(a.line, "\(a.name) must be a string, not \(a.value.typeName)") }
        return s
    }

    /// A list of strings (a single string is a list of one).
    public func strings(_ a: HCL.Attribute) throws(HCL.ParseError) -> [String] {
        switch a.value {
        case .string(let s): return [s]
        case .list(let items):
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else { throw error(a.line, "\(a.name) must be a list of strings") }
                out.append(s)
            }
            return out
        default: throw error(a.line, "\(a.name) must be a list of strings, not \(a.value.typeName)")
        }
    }

    public func bool(_ a: HCL.Attribute) throws(HCL.ParseError) -> Bool {
        guard case .bool(let b) = a.value else { throw error(a.line, "\(a.name) must be true or false, not \(a.value.typeName)") }
        return b
    }

    public func wholeNumber(_ a: HCL.Attribute) throws(HCL.ParseError) -> Int {
        guard case .number(let n) = a.value, n >= 0, n == n.rounded(), n < 1e15 else { throw error(a.line, "\(a.name) must be a whole number") }
        return Int(n)
    }

    /// Seconds, from a number or a duration text such as `"30s"` or `"14d"`.
    public func duration(_ a: HCL.Attribute) throws(HCL.ParseError) -> Double {
        switch a.value {
        case .number(let n) where n > 0: return n
        case .string(let s):
            guard let d = DurationText.seconds(s), d > 0 else { throw error(a.line, "\(a.name) must be a duration such as \"30s\" or \"14d\", not \"\(s)\"") }
            return d
        default: throw error(a.line, "\(a.name) must be a duration such as \"30s\"")
        }
    }
}
