import Foundation
import Testing
import TestSupport
@testable import KubetrailCore

struct DecodedRecord: Equatable {
    var source: WireFormat.Source
    var offset: UInt64
    var bytes: [UInt8]
}

/// Decodes `batch` fed in chunks of the given sizes (cycled).
func decode(_ batch: [UInt8], chunks: [Int] = [Int.max], limits: WireFormat.Limits = .init()) throws -> (WireBatchDecoder, [DecodedRecord]) {
    var decoder = WireBatchDecoder(limits: limits)
    var out: [(Int, UInt64, [UInt8])] = []
    var i = 0, k = 0
    while i < batch.count {
        let n = min(max(1, chunks[k % chunks.count]), batch.count - i)
        try decoder.feed(Array(batch[i..<(i + n)])) { out.append(($0.source, $0.offset, Array($0.bytes))) }
        i += n
        k += 1
    }
    try decoder.finish()
    let sources = decoder.header?.sources ?? []
    return (decoder, out.map { DecodedRecord(source: sources[$0.0], offset: $0.1, bytes: $0.2) })
}

func fixtureBatch() throws -> (WireBatchEncoder, [DecodedRecord]) {
    var encoder = WireBatchEncoder(node: "cp-1", cluster: "prod")
    var expected: [DecodedRecord] = []
    let audit = WireFormat.Source(kind: .auditLine, path: "/var/log/kube-audit/audit.log", identity: "2049:131:ab12")
    let cri = WireFormat.Source(kind: .containerLogLine, path: "/var/log/pods/ns_p_u/c/0.log", identity: "2049:77:cd34")
    let auditLines = try Fixtures.data("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").split(separator: 0x0A)
    let criLines = try Fixtures.data("container-logs/otel_examples_crio_0.log").split(separator: 0x0A)
    var auditOffset: UInt64 = 0, criOffset: UInt64 = 0
    for i in 0..<max(auditLines.count, criLines.count) {
        if i < auditLines.count {
            let b = Array(auditLines[i])
            encoder.append(audit, offset: auditOffset, bytes: b)
            expected.append(DecodedRecord(source: audit, offset: auditOffset, bytes: b))
            auditOffset += UInt64(b.count + 1)
        }
        if i < criLines.count {
            var b = Array(criLines[i])
            if i == 2 { b += [0x0A] + Array(criLines[3]) }  // a P…F group travels as one record
            if i == 3 { continue }
            encoder.append(cri, offset: criOffset, bytes: b)
            expected.append(DecodedRecord(source: cri, offset: criOffset, bytes: b))
            criOffset += UInt64(b.count + 1)
        }
    }
    // Bytes exactly as read, including invalid UTF-8 and NUL.
    let odd: [UInt8] = [0xFF, 0x00, 0xC3, 0x28, 0x0D]
    encoder.append(cri, offset: criOffset, bytes: odd)
    expected.append(DecodedRecord(source: cri, offset: criOffset, bytes: odd))
    return (encoder, expected)
}

@Suite struct WireFormatTests {
    @Test func roundTripsFixtureLinesInAnyChunking() throws {
        let (encoder, expected) = try fixtureBatch()
        let batch = encoder.encoded()
        for chunks in [[Int.max], [1], [7, 3, 1000], [4096], [65536, 1]] {
            let (decoder, records) = try decode(batch, chunks: chunks)
            #expect(records == expected, "chunks \(chunks)")
            #expect(decoder.header?.node == "cp-1" && decoder.header?.cluster == "prod")
            #expect(decoder.batchID == encoder.batchID)
        }
    }

    @Test func deflatedRoundTrip() throws {
        let (encoder, expected) = try fixtureBatch()
        let wire = try encoder.deflated()
        #expect(wire.count < encoder.encoded().count / 2)
        var decoder = WireBatchDecoder()
        var got: [UInt8] = []
        var count = 0
        let inflater = try Inflater(format: .zlib)
        try wire.withUnsafeBytes { raw in
            _ = try inflater.inflate(raw, limit: 64 << 20) { chunk in
                try decoder.feed(chunk) { r in
                    count += 1; got += r.bytes
                }
            }
        }
        try decoder.finish()
        #expect(count == expected.count)
        #expect(got == expected.flatMap(\.bytes))
    }

    @Test func batchIDDependsOnOriginAndRangeOnly() throws {
        let s = WireFormat.Source(kind: .auditLine, path: "/a", identity: "1:2:x")
        var a = WireBatchEncoder(node: "n", cluster: "c")
        a.append(s, offset: 0, bytes: Array("one".utf8))
        a.append(s, offset: 4, bytes: Array("two".utf8))
        var b = WireBatchEncoder(node: "n", cluster: "c")
        b.append(s, offset: 4, bytes: Array("two".utf8))
        b.append(s, offset: 0, bytes: Array("one".utf8))
        #expect(a.batchID == b.batchID)
        var c = WireBatchEncoder(node: "n", cluster: "c")
        c.append(s, offset: 0, bytes: Array("one".utf8))
        #expect(c.batchID != a.batchID)
        var d = WireBatchEncoder(node: "other", cluster: "c")
        d.append(s, offset: 0, bytes: Array("one".utf8))
        d.append(s, offset: 4, bytes: Array("two".utf8))
        #expect(d.batchID != a.batchID)
        #expect(a.batchID.count == 32)
    }

    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256Hex.digest([], hexDigits: 64) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Hex.digest(Array("abc".utf8), hexDigits: 64) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256Hex.digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8), hexDigits: 64)
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256Hex.digest([UInt8](repeating: 0x61, count: 1_000_000), hexDigits: 64)
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func everyTruncationIsAnError() throws {
        let (encoder, _) = try fixtureBatch()
        let batch = encoder.encoded()
        for cut in stride(from: 0, to: batch.count, by: max(1, batch.count / 500)) + [batch.count - 1] {
            #expect(throws: WireFormatError.self) { _ = try decode(Array(batch.prefix(cut))) }
        }
    }
}

/// Hostile inputs kept as files under WireCorpus/ (add any input the fuzzer ever crashes on):
/// every one must be rejected with an error, fed byte by byte, without buffering.
@Suite struct WireCorpusTests {
    static let directory = Fixtures.repositoryRoot.appendingPathComponent("Tests/KubetrailCoreTests/WireCorpus")
    static let files: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".bin") }.sorted()

    @Test func corpusIsPresent() {
        #expect(Self.files.count >= 15)
    }

    @Test(arguments: files)
    func hostileInputIsRejectedWithoutBuffering(file: String) throws {
        let input = [UInt8](try Data(contentsOf: Self.directory.appendingPathComponent(file)))
        var limits = WireFormat.Limits()
        limits.maxRecordBytes = 1 << 20
        var decoder = WireBatchDecoder(limits: limits)
        #expect(throws: WireFormatError.self) {
            for byte in input { try decoder.feed([byte]) { _ in } }
            try decoder.finish()
        }
        #expect(decoder.bufferedBytes < 64)
    }
}

/// Random valid batches, mutated, fed in random chunkings: never a crash, never more buffered
/// than one record. `kubetrail-bench fuzz-wire` runs millions of the same in release.
@Suite struct WireFuzzTests {
    @Test func mutatedBatchesNeverCrashOrOverBuffer() throws {
        var fuzzer = WireFuzzer(seed: 2026)
        let iterations = 20_000
        var accepted = 0
        for _ in 0..<iterations {
            let outcome = fuzzer.runOne(maxRecordBytes: 4096)
            #expect(outcome.maxBuffered <= 4096 + 64)
            if outcome.accepted { accepted += 1 }
        }
        #expect(accepted > 0 && accepted < iterations)  // both paths exercised
    }
}
