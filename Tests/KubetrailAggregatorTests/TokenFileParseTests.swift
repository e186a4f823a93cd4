import Testing
@testable import KubetrailAggregator

/// The aggregator's token file read with the shared grammar (`TokenLines`): a file saved with
/// CRLF line ends holds as many tokens as lines (it was read as one line, its second token
/// taken for an option, and refused).
@Suite struct TokenFileParseTests {
    @Test func crlfLinesAreLines() throws {
        let a = String(repeating: "a", count: 32), b = String(repeating: "b", count: 32)
        let tokens = try TokenFile.parse("# tokens\r\n\(a) kinds=logs\r\n\r\n\(b)\r\n")
        #expect(tokens.count == 2)
        let short = #expect(throws: (any Error).self) { try TokenFile.parse("\(a)\r\nshort\r\n") }
        #expect("\(short.map { "\($0)" } ?? "")".contains("line 2"))
    }
}
