import Testing

@testable import KubetrailCore

/// The byte-level escaping (rows sent to followers) writes exactly what the `String` one does.
@Suite struct JSONTextTests {
    @Test func bytesAndStringEscapeTheSame() {
        var cases = [
            "", "plain", "quote \" and backslash \\ and slash /", "line\nfeed\r\ttab", "é ü 日本語 🚀 \u{2028}",
            "\u{7F} DEL is not escaped", "ends with a quote\"", "\"", "\\\\", String(repeating: "x\n", count: 300)
        ]
        cases += (0..<0x20).map { "a\(Character(Unicode.Scalar(UInt8($0))))b" }
        for s in cases {
            var string = ""
            JSONText.appendEscaped(s, to: &string)
            var bytes: [UInt8] = [0x41]  // appended after what is there
            JSONText.appendEscaped(s, to: &bytes)
            #expect(bytes == [0x41] + Array(string.utf8), "\(s.debugDescription)")
        }
        var control: [UInt8] = []
        JSONText.appendEscaped("\u{1B}[0m\u{0}", to: &control)
        #expect(String(decoding: control, as: UTF8.self) == "\\u001b[0m\\u0000")
    }
}
