import Foundation
import Testing
import TestSupport
@testable import KubetrailCore

@Suite struct JSONScannerTests {
    func validate(_ text: String) -> JSONError? {
        var t = text
        return t.withUTF8 { p -> JSONError? in
            var s = JSONScanner(UnsafeRawBufferPointer(p))
            do {
                try s.skipValue()
                s.skipWhitespace()
                if !s.isAtEnd { return .trailingData(s.position) }
                return nil
            } catch { return error as? JSONError ?? .unexpectedEnd(-1) }
        }
    }

    @Test(arguments: [
        #"{}"#, #"[]"#, #"{"a":[1,-2.5e10,true,false,null,"x\u00e9\n\"y"]}"#, #" { "k" : { "n" : [ ] } } "#,
        #"0"#, #"-0.0"#, #""\ud83d\ude00""#, #"{"a":1,"a":2}"#
    ])
    func acceptsValid(text: String) {
        #expect(validate(text) == nil)
    }

    @Test(arguments: [
        #"{"a":1,}"#, #"{"a" 1}"#, #"[1 2]"#, #"{"a":01}"#, #"{"a":1."#, #""\x""#, "\"a\nb\"", #"{"a":tru}"#,
        #"{"a":"\u12"}"#, #"[1,]"#, #"{"#, #"{"a":1}}"#, #"nul"#, #"-"#, #"1e"#
    ])
    func rejectsInvalid(text: String) {
        #expect(validate(text) != nil)
    }

    @Test func rejectsHostileNestingWithoutCrashing() {
        #expect(validate(String(repeating: "[", count: 100_000)) != nil)
        #expect(validate(String(repeating: "[", count: 150) + String(repeating: "]", count: 150)) == nil)
    }

    @Test func decodesEscapesLikeFoundation() throws {
        let samples = [
            #""plain""#, #""tab\there""#, #""\u0026 amp""#, #""emoji \ud83d\ude00 ok""#,
            #""lone \ud800 surrogate""#, #""quote \" slash \/ back \\""#, #""caf\u00e9""#
        ]
        for sample in samples {
            var t = sample
            let ours: String = try t.withUTF8 { p in
                var s = JSONScanner(UnsafeRawBufferPointer(p))
                return try #require(try s.readString())
            }
            if sample.contains("\\ud800") {
                #expect(ours == "lone \u{FFFD} surrogate")
            } else {
                let theirs = try JSONSerialization.jsonObject(with: Data(sample.utf8), options: [.fragmentsAllowed]) as? String
                #expect(ours == theirs)
            }
        }
    }

    @Test func invalidUTF8InStringsIsRepairedNotFatal() throws {
        let bytes: [UInt8] = Array(#"{"k":""#.utf8) + [0xFF, 0xFE, 0x41] + Array(#""}"#.utf8)
        let value: String? = try bytes.withUnsafeBytes { raw in
            var s = JSONScanner(raw)
            try s.enterObject()
            var first = true
            _ = try s.nextKey(&first)
            return try s.readString()
        }
        #expect(value == "\u{FFFD}\u{FFFD}A")
    }

    @Test func readIntRejectsFractionsAndOverflow() throws {
        for (text, ok) in [("200", true), ("-7", true), ("2.5", false), ("99999999999999999999", false)] {
            var t = text
            let parsed: Bool = t.withUTF8 { p in
                var s = JSONScanner(UnsafeRawBufferPointer(p))
                do { _ = try s.readInt(); return true } catch { return false }
            }
            #expect(parsed == ok, "\(text)")
        }
    }
}
