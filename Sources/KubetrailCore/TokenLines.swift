/// The one grammar of kubetrail's token files, which the aggregator (its tokens and their
/// scopes), the agent (its ingest token) and the CLI (`--token-file`) all read: one token per
/// line, first of the line's whitespace-separated fields, the other fields its options (the
/// aggregator's `TokenScope`); blank lines and lines starting with `#` are skipped; lines end
/// in LF or CRLF. So a line of the aggregator's file can be given as is to a client: it sends
/// the token, not the options.
public enum TokenLines {
    public struct Line: Sendable {
        /// 1-based, for errors.
        public let number: Int
        public let token: Substring
        public let options: [Substring]
    }

    public static func parse(_ text: String) -> [Line] {
        var out: [Line] = []
        // By Character, "\r\n" is one: split on any newline, or a file saved with CRLF line
        // ends is one long line (the aggregator's parser took its second token as an option).
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let token = fields.first, !token.hasPrefix("#") else { continue }
            out.append(Line(number: index + 1, token: token, options: Array(fields.dropFirst())))
        }
        return out
    }

    /// The first token of the file: what a client sends.
    public static func first(_ text: String) -> String? {
        parse(text).first.map { String($0.token) }
    }
}
