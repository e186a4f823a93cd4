/// Values put into SQL as text: literals and LIKE patterns, the same in SQLite and PostgreSQL
/// (standard strings, so a backslash is itself; kubetrail sets `standard_conforming_strings`).
public enum SQLText {
    public static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    /// A LIKE pattern matching `s` literally, with `\` as the escape character.
    /// Per Unicode scalar: `%` followed by a combining mark is one Character, and still a `%`.
    public static func likeEscaped(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if u == "%" || u == "_" || u == "\\" { out.append("\\") }
            out.append(u)
        }
        return String(out)
    }

    /// A shell glob (`*` any run, `?` one character, the rest literal) as a LIKE pattern with
    /// `\` as its escape: `LIKE <this> ESCAPE '\'`, which both engines take.
    public static func likePattern(glob: String) -> String {
        var out = String.UnicodeScalarView()
        for u in glob.unicodeScalars {
            switch u {
            case "*": out.append("%")
            case "?": out.append("_")
            default: out.append(contentsOf: likeEscaped(String(u)).unicodeScalars)
            }
        }
        return String(out)
    }
}
