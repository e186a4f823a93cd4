import Testing
@testable import KubetrailCore

/// `Deflater` reuses its output buffer and takes its input in parts: what it writes inflates to
/// the parts joined, whatever their sizes, and however large or small the call before was.
@Suite struct DeflaterTests {
    static func bytes(_ count: Int, seed: UInt64, compressible: Bool) -> [UInt8] {
        var g = SplitMix64(seed: seed)
        let words = Array("kube pod log audit error info ".utf8)
        return (0..<count).map { _ in compressible ? words[Int(g.next() % UInt64(words.count))] : UInt8(truncatingIfNeeded: g.next()) }
    }

    @Test func partsInflateToTheirConcatenation() throws {
        let deflater = try Deflater(level: 1)
        // Incompressible data is where deflate's output outgrows its input.
        for (sizes, compressible) in [
            ([0], true), ([], true), ([10, 0, 5], true), ([1 << 20, 37], false), ([3, 2 << 20, 0, 1], true),
            ([100_000, 100_000, 100_000], false), ([1], false)
        ] {
            let parts = sizes.enumerated().map { Self.bytes($1, seed: UInt64($0 + 1), compressible: compressible) }
            let z = try deflater.compress(parts.map { p in p.withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress, count: $0.count) } })
            #expect(try Inflater.inflate(z, format: .zlib, limit: 64 << 20) == parts.flatMap { $0 }, "\(sizes)")
        }
        // After a 16 MiB input, a small one still comes out whole (the buffer shrinks back).
        let big = Self.bytes(16 << 20, seed: 9, compressible: false)
        #expect(try Inflater.inflate(try deflater.compress(big), format: .zlib, limit: 32 << 20) == big)
        let small = Self.bytes(1000, seed: 10, compressible: true)
        #expect(try Inflater.inflate(try deflater.compress(small), format: .zlib) == small)
    }

    /// A wire batch deflated from its two parts is the batch `encoded()` gives.
    @Test func aBatchFromItsPartsIsTheEncodedBatch() throws {
        var encoder = WireBatchEncoder(node: "n", cluster: "c", reservingBytes: 4096)
        let source = WireFormat.Source(kind: .containerLogLine, path: "/var/log/pods/a/0.log", identity: "1:2:3")
        for i in 0..<100 { encoder.append(source, offset: UInt64(i * 10), bytes: Array("line \(i)".utf8)) }
        #expect(try Inflater.inflate(try encoder.deflated(), format: .zlib) == encoder.encoded())
        #expect(encoder.parts().count == encoder.encoded().count)
    }
}
