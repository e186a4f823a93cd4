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

/// Says so when a token is about to go over plain HTTP to another machine.
func warnIfPlainHTTP(_ server: String) {
    guard server.hasPrefix("http://"), let host = URL(string: server)?.host, !["127.0.0.1", "localhost", "::1"].contains(host) else { return }
    FileHandle.standardError.write(Data("note: \(server) is plain HTTP: the query token and the rows travel unencrypted; use https\n".utf8))
}
