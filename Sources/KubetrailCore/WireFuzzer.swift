/// Mutation fuzzing of the batch decoder: shared by the tests (thousands of cases) and
/// `kubetrail-bench fuzz-wire` (millions, in release).
public struct WireFuzzer {
    private var rng: SplitMix64

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    public mutating func next() -> UInt64 { rng.next() }

    private mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }

    /// A random valid batch.
    public mutating func batch() -> [UInt8] {
        var encoder = WireBatchEncoder(node: "node-\(below(5))", cluster: below(2) == 0 ? "" : "prod")
        let sources = (0..<(1 + below(3))).map {
            WireFormat.Source(kind: below(2) == 0 ? .auditLine : .containerLogLine, path: "/var/log/f\($0).log", identity: "\(below(100)):\(below(1000))")
        }
        var offset: UInt64 = 0
        for _ in 0..<below(12) {
            let bytes = (0..<below(300)).map { _ in UInt8(truncatingIfNeeded: next()) }
            encoder.append(sources[below(sources.count)], offset: offset, bytes: bytes)
            offset += UInt64(bytes.count + 1)
        }
        return encoder.encoded()
    }

    /// A batch with a few random edits: flips, inserted and deleted bytes, truncation, and
    /// varint-shaped garbage that declares large lengths.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + below(4)) {
            switch below(6) {
            case 0 where !b.isEmpty: b[below(b.count)] ^= UInt8(truncatingIfNeeded: 1 << below(8))
            case 1: b.insert(UInt8(truncatingIfNeeded: next()), at: below(b.count + 1))
            case 2 where !b.isEmpty: b.remove(at: below(b.count))
            case 3: b = Array(b.prefix(below(b.count + 1)))
            case 4:
                var v: [UInt8] = []
                Varint.append(next() >> UInt64(below(64)), to: &v)
                b.insert(contentsOf: v, at: below(b.count + 1))
            default:
                if !b.isEmpty { b[below(b.count)] = 0xFF }
            }
        }
        return b
    }

    public struct Outcome { public var accepted: Bool; public var maxBuffered: Int }

    /// Decodes one mutated batch in random chunks; any thrown error is a correct rejection.
    public mutating func runOne(maxRecordBytes: Int, input: [UInt8]? = nil) -> Outcome {
        let data = input ?? mutate(batch())
        var limits = WireFormat.Limits()
        limits.maxRecordBytes = maxRecordBytes
        var decoder = WireBatchDecoder(limits: limits)
        var maxBuffered = 0
        var i = 0
        do {
            while i < data.count {
                let n = min(1 + below(64), data.count - i)
                try decoder.feed(Array(data[i..<(i + n)])) { _ in }
                maxBuffered = max(maxBuffered, decoder.bufferedBytes)
                i += n
            }
            try decoder.finish()
            return Outcome(accepted: true, maxBuffered: maxBuffered)
        } catch {
            return Outcome(accepted: false, maxBuffered: max(maxBuffered, decoder.bufferedBytes))
        }
    }
}
