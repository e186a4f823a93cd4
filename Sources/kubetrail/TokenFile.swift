import Foundation

/// The query token in `--token-file`: the first line that is neither blank nor a `#` comment
/// (the aggregator's token files have that shape). The token itself never appears in an error.
func readToken(_ file: String) throws -> String {
    guard let text = try? String(contentsOfFile: expandTilde(file), encoding: .utf8),
          let token = text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { !$0.isEmpty && !$0.hasPrefix("#") }) else {
        throw UserFacingError("cannot read a token from \(file)")
    }
    return token
}
