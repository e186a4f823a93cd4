import Foundation
import Testing
@testable import KubetrailStore

/// The pattern sets detections test text with: every shape (and the automaton that searches
/// many substrings at once) answers as a plain case-folded search does.
@Suite struct CaselessPatternsTests {
    /// The naive answer: fold both, then look for each needle.
    static func naive(_ needles: [String], in value: String) -> Bool {
        let v = Array(value.utf8).map(WildcardPattern.fold)
        return needles.contains { n in
            let n = Array(n.utf8).map(WildcardPattern.fold)
            guard n.count <= v.count else { return false }
            return (0...(v.count - n.count)).contains { Array(v[$0..<($0 + n.count)]) == n }
        }
    }

    func matches(_ patterns: CaselessPatterns, _ value: String) throws -> Bool {
        try Array(value.utf8).withUnsafeBytes { try patterns.matches($0, shouldStop: { false }) }
    }

    @Test func manySubstringsInOnePassAnswerAsEachSearchedAlone() throws {
        // SigmaHQ's enumeration rule's values, and needles that overlap and nest.
        let needles = ["%2fbin%2fash", "%2fbin%2fbash", "/bin/sh", "/bin/bash", "/usr/bin/curl", "abab", "bab", "aab", "b"]
        let patterns = CaselessPatterns(like: needles.map { "%" + PredicateLike.escape($0) + "%" })
        guard case .containsAny = patterns.shapes.last else { Issue.record("no automaton for \(needles.count) substrings"); return }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ab/%2fBINSHusrcl".utf8)
        for _ in 0..<3000 {
            let value = String(decoding: (0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }, as: UTF8.self)
            let withoutB = needles.filter { $0 != "b" }
            let p = CaselessPatterns(like: withoutB.map { "%" + PredicateLike.escape($0) + "%" })
            #expect(try matches(p, value) == Self.naive(withoutB, in: value), "\(value)")
        }
        #expect(try matches(patterns, "/api/v1/namespaces/x/pods/y/exec?command=%2FBIN%2Fbash"))
        #expect(try !matches(CaselessPatterns(like: ["%/bin/sh%", "%/bin/zsh%", "%/usr/bin/perl%", "%%2fbin%2fdash%"]), "/api/v1/pods?limit=500"))
    }

    @Test func eachShapeAndUnicodeText() throws {
        let p = CaselessPatterns(like: ["exact", "pre%", "%suf", "%mid%", "a_c", "ÉCOLE"])
        for (value, expected) in [
            ("EXACT", true), ("exactly", false), ("prefix", true), ("the suf", true), ("a mid b", true),
            ("abc", true), ("abbc", false), ("école", true), ("ecole", false), ("", false)
        ] {
            #expect(try matches(p, value) == expected, "\(value)")
        }
    }
}

/// LIKE escaping for the test's literal needles.
enum PredicateLike {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }
}
