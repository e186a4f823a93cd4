/// A `--where` condition, checked to be one expression before it is put inside `WHERE (…)`:
/// no `;` and balanced parentheses, so it cannot close its parenthesis and start another
/// statement or clause.
public enum SQLCondition {
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func check(_ text: String) throws {
        var depth = 0
        for t in SQLTokenizer.tokenize(text) where t.kind == .punctuation {
            switch t.text {
            case ";": throw Invalid(description: "the condition must be one SQL expression: no ';'")
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth < 0 { throw Invalid(description: "the condition closes a parenthesis it did not open") }
            default: break
            }
        }
        if depth != 0 { throw Invalid(description: "the condition leaves a parenthesis open") }
    }
}
