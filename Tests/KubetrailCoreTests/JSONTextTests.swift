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
        // What the escaping is, written out: both versions must give these.
        let expected: [(String, String)] = [
            ("\u{1B}[0m\u{0}", #"\u001b[0m\u0000"#), ("a\"b\\c", #"a\"b\\c"#), ("\n\r\t\u{1F}", #"\n\r\t\u001f"#),
            ("é 日本 🚀 \u{7F}", "é 日本 🚀 \u{7F}"), ("plain", "plain")
        ]
        for (raw, escaped) in expected {
            var bytes: [UInt8] = []
            JSONText.appendEscaped(raw, to: &bytes)
            var string = ""
            JSONText.appendEscaped(raw, to: &string)
            #expect(String(decoding: bytes, as: UTF8.self) == escaped && string == escaped, "\(raw.debugDescription)")
        }
        var quoted: [UInt8] = []
        JSONText.appendQuoted("say \"hi\"", to: &quoted)
        #expect(quoted == Array(#""say \"hi\"""#.utf8) && JSONText.string("say \"hi\"") == #""say \"hi\"""#)
    }
}
