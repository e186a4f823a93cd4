import Foundation
import Testing
import TestSupport
@testable import KubetrailCore

/// Feeds text through the framer line by line, as the importer does.
func frame(_ text: String, max: Int = 1 << 20) -> (docs: [(String, Int)], rejected: [(Int, String)]) {
    var framer = JSONDocumentFramer(maxDocumentBytes: max)
    var docs: [(String, Int)] = []
    var rejected: [(Int, String)] = []
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    for (i, line) in lines.enumerated() {
        var l = String(line)
        l.withUTF8 { p in
            framer.feed(line: UnsafeRawBufferPointer(p), lineNumber: i + 1) { event in
                switch event {
                case .document(let d, let first): docs.append((String(decoding: d, as: UTF8.self), first))
                case .rejected(let first, _, let reason): rejected.append((first, reason))
                }
            }
        }
    }
    framer.finish(lastLine: lines.count) { event in
        if case .rejected(let first, _, let reason) = event { rejected.append((first, reason)) }
    }
    return (docs, rejected)
}

@Suite struct JSONDocumentFramerTests {
    @Test func jsonLinesAreOneDocumentEach() {
        let r = frame("{\"a\":1}\n{\"b\":\"}{\"}\n\n{\"c\":[1,{}]}\n")
        #expect(r.docs.map(\.0) == ["{\"a\":1}", "{\"b\":\"}{\"}", "{\"c\":[1,{}]}"])
        #expect(r.docs.map(\.1) == [1, 2, 4])
        #expect(r.rejected.isEmpty)
    }

    @Test func prettyPrintedFixtureIsOneDocumentStartingAtLineOne() throws {
        let text = try Fixtures.text("audit/managed-clusters/aks_kube_audit_event_requestresponse_pretty.json")
        let r = frame(text)
        #expect(r.docs.count == 1)
        #expect(r.docs.first?.1 == 1)
        #expect(r.rejected.isEmpty)
        #expect(try JSONSerialization.jsonObject(with: Data(r.docs[0].0.utf8)) is [String: Any])
    }

    @Test func truncatedLineLosesOnlyItself() {
        let r = frame("{\"a\":1}\n{\"b\":{\"c\":\"trunc\n{\"d\":2}\n{\"e\":[1,\n{\"f\":3}\n")
        #expect(r.docs.map(\.0) == ["{\"a\":1}", "{\"d\":2}", "{\"f\":3}"])
        #expect(r.rejected.map(\.0) == [2, 4])
    }

    @Test func garbageLineIsRejectedAndNeighboursKept() {
        let r = frame("{\"a\":1}\n\"log\":\"missing brace\"}\n{\"b\":2}\n")
        #expect(r.docs.map(\.0) == ["{\"a\":1}", "{\"b\":2}"])
        #expect(r.rejected.count == 1)
        #expect(r.rejected[0].0 == 2)
    }

    @Test func oversizedDocumentIsRejectedThenFramingResumes() {
        let big = "{\n\"x\": \"" + String(repeating: "y", count: 5000) + "\"\n}"
        let r = frame(big + "\n{\"ok\":true}\n", max: 1000)
        #expect(r.docs.map(\.0) == ["{\"ok\":true}"])
        #expect(r.rejected.count == 1)
        #expect(r.rejected[0].1.contains("larger than 1000"))
    }

    @Test func byteOrderMarkIsSkipped() {
        let r = frame("\u{FEFF}{\"a\":1}")
        #expect(r.docs.map(\.0) == ["{\"a\":1}"])
    }

    @Test func unfinishedDocumentAtEndIsReported() {
        let r = frame("{\"a\":\n  [1, 2")
        #expect(r.docs.isEmpty)
        #expect(r.rejected.first?.0 == 1)
    }
}
