import Testing
@testable import KubetrailCore

/// The ingest reply as a contract: what the aggregator encodes the agent decodes to the same
/// value, unknown keys are skipped, and no mangled document decodes or traps.
@Suite struct IngestReplyContractTests {
    static let full = IngestReply(
        batchID: "5f2b0c1e9a7d4e3f8b6a1c2d3e4f5a6b", records: 7, storedAudit: 3, storedPodLogs: 2, duplicates: 1, conflicts: 1,
        rejected: 1,
        rejections: [
            .init(
                reason: "invalid_utf8", path: "/var/log/pods/a \"b\"\n/0.log", offset: 9_223_372_036_854_775_807,
                detail: "é\u{0}\\")
        ])

    @Test func whatIsEncodedDecodesToTheSameReply() throws {
        for reply in [Self.full, IngestReply(batchID: nil, records: 0), IngestReply(batchID: "x", records: 5, duplicate: true)] {
            #expect(try IngestReply.decode(Array(reply.encoded().utf8)) == reply, "\(reply.encoded())")
        }
        // A detail is cut to its bound in the document.
        var long = Self.full
        long.rejections[0].detail = String(repeating: "d", count: 1000)
        #expect(try IngestReply.decode(Array(long.encoded().utf8)).rejections[0].detail.count == IngestReply.maxDetailCharacters)
    }

    @Test func unknownKeysAreSkippedAndRequiredOnesChecked() throws {
        let newer =
            #"{"version":2,"batch_id":"a","records":1,"duplicate":false,"stored":{"kubernetes_audit_logs":1,"x":[1]},"rejected":0,"extra":{"a":[null]}}"#
        #expect(try IngestReply.decode(Array(newer.utf8)) == IngestReply(batchID: "a", records: 1, storedAudit: 1))
        for bad in [
            #"{"records":1,"duplicate":false,"rejected":0}"#, #"{"batch_id":"a","records":-1,"duplicate":false,"rejected":0}"#,
            #"{"batch_id":"a","records":1,"duplicate":"no","rejected":0}"#, #"{"batch_id":"a","records":1,"duplicate":false,"rejected":0}x"#,
            #"{"batch_id":"a","records":1,"duplicate":false,"rejected":0,"rejections":[{"offset":-3}]}"#, "", "null", "[]"
        ] {
            #expect(throws: JSONError.self, "\(bad)") { try IngestReply.decode(Array(bad.utf8)) }
        }
    }

    /// Every prefix of the document and bytes flipped at random: an error or a reply, never a trap.
    @Test func mangledDocumentsAreErrors() {
        let document = Array(Self.full.encoded().utf8)
        for n in 0..<document.count { #expect(throws: JSONError.self) { try IngestReply.decode(Array(document[..<n])) } }
        var g = SplitMix64(seed: 42)
        for _ in 0..<20_000 {
            var bytes = document
            for _ in 0..<(1 + Int(g.next() % 4)) { bytes[Int(g.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: g.next()) }
            _ = try? IngestReply.decode(bytes)
        }
    }
}
