import Foundation
import Testing
@testable import KubetrailStore

/// Values made storable for PostgreSQL, decided by byte scans (no server needed): what must
/// change changes, and what is fine is left alone without a copy.
@Suite struct PostgresValuesTests {
    @Test func jsonEscapesPostgreSQLRefusesAreReplacedOthersLeftAlone() {
        let cases: [(String, String?)] = [
            (#"{"a":"plain"}"#, nil),
            (#"{"a":"x\"y\\z\n"}"#, nil),
            (#"{"a":"nul\u0000here"}"#, #"{"a":"nul\ufffdhere"}"#),
            (#"{"a":"not a nul: \\u0000"}"#, nil),  // an escaped backslash, then text
            (#"{"a":"\\\u0000"}"#, #"{"a":"\\\ufffd"}"#),  // an escaped backslash, then a NUL
            (#"{"a":"\ud83d\ude00 paired"}"#, nil),
            (#"{"a":"\ud83d alone"}"#, #"{"a":"\ufffd alone"}"#),
            (#"{"a":"\uDE00 low alone"}"#, #"{"a":"\ufffd low alone"}"#),
            (#"{"a":"\u00A0 and \u20ac"}"#, nil),
            (#"{"a":"cut \u00"#, nil)
        ]
        for (input, expected) in cases {
            #expect(JSONEscapes.storable(input) == expected, "\(input)")
        }
        #expect(JSONEscapes.hasEscapedNUL(#"["a","\u0000"]"#) && !JSONEscapes.hasEscapedNUL(#"["\\u0000"]"#))
    }

    @Test func arrayLiteralsQuoteEveryElement() {
        #expect(PostgresValues.arrayLiteral([]) == "{}")
        #expect(
            PostgresValues.arrayLiteral(["10.0.0.1", "", "NULL", "a,b", #"q"uote"#, #"back\slash"#, "Zoë 😀"])
                == #"{"10.0.0.1","","NULL","a,b","q\"uote","back\\slash","Zoë 😀"}"#)
        let text = Array(PostgresValues.arrayLiteral([#"q"uote"#, #"b\s"#, "NULL"]).utf8)
        #expect(text.withUnsafeBytes { ArrayLiteral.parse($0) } == [#"q"uote"#, #"b\s"#, "NULL"])
    }

    @Test func bytesAreFoundInNativeAndBridgedStrings() {
        #expect(Bytes.contains("a\u{0}b", 0) && !Bytes.contains("abc", 0) && !Bytes.contains("", 0))
        // A string bridged from NSString has no contiguous UTF-8 of its own: scanned from a copy.
        let bridged = NSString(string: "a long enough string to be no small string \u{0} end") as String
        #expect(Bytes.contains(bridged, 0) && !Bytes.contains(NSString(string: "nothing to find in this longer text") as String, 0))
    }
}
