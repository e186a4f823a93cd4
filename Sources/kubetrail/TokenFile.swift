import Foundation
import KubetrailCore

/// The query token in `--token-file`, read as every token file is (`TokenLines`): a line of
/// the aggregator's own file works as is. The token itself never appears in an error.
func readToken(_ file: String) throws -> String {
    guard let text = try? String(contentsOfFile: expandTilde(file), encoding: .utf8), let token = TokenLines.first(text) else {
        throw UserFacingError("cannot read a token from \(file)")
    }
    return token
}

/// Says so when a token is about to go over plain HTTP to another machine.
func warnIfPlainHTTP(_ server: String) {
    guard server.hasPrefix("http://"), let host = URL(string: server)?.host, !["127.0.0.1", "localhost", "::1"].contains(host) else { return }
    FileHandle.standardError.write(Data("note: \(server) is plain HTTP: the query token and the rows travel unencrypted; use https\n".utf8))
}
