import Testing
import KubetrailCore

/// One grammar for every token file: the aggregator's lines, with their options, and the one
/// token a client sends.
@Suite struct TokenLinesTests {
    @Test func tokensOptionsCommentsAndBlankLines() {
        let text = "# agents\r\n\n  \t\nAAAA nodes=a,b kinds=logs\r\n#BBBB\nCCCC\t query \n"
        let lines = TokenLines.parse(text)
        #expect(lines.map(\.number) == [4, 6])
        #expect(lines.map { String($0.token) } == ["AAAA", "CCCC"])
        #expect(lines.map { $0.options.map(String.init) } == [["nodes=a,b", "kinds=logs"], ["query"]])
        // A client given a line of the aggregator's file sends the token, not its options.
        #expect(TokenLines.first(text) == "AAAA")
        #expect(TokenLines.first("# only a comment\n\n") == nil)
        #expect(TokenLines.first("") == nil)
    }
}
