/// Builds a batch: sources first (each file once), then records referring to them.
public struct WireBatchEncoder {
    public let node: String
    public let cluster: String
    public private(set) var sources: [WireFormat.Source] = []
    private var sourceIndex: [WireFormat.Source: Int] = [:]
    private var body: [UInt8] = []
    public private(set) var recordCount = 0
    private var ranges = BatchRanges()
    // Records come in runs from one file: the last source is checked before hashing.
    private var lastSource: WireFormat.Source?
    private var lastIndex = 0

    /// `reservingBytes`: the record bytes a batch is expected to reach (the agent's batch
    /// size), so the records are not copied each time the buffer would double on the way.
    /// `reusing`: an earlier batch's record buffer to fill again (its bytes are dropped).
    public init(node: String, cluster: String, reservingBytes: Int = 0, reusing buffer: consuming [UInt8] = []) {
        self.node = node
        self.cluster = cluster
        // Moved, not copied: emptying a buffer something else also holds would allocate anew.
        body = consume buffer
        body.removeAll(keepingCapacity: true)
        body.reserveCapacity(reservingBytes)
    }

    /// Bytes of record data so far (for the agent's size-based flush).
    public var recordBytes: Int { body.count }

    public mutating func append(_ source: WireFormat.Source, offset: UInt64, bytes: UnsafeRawBufferPointer) {
        let index: Int
        if let last = lastSource, last == source {
            index = lastIndex
        } else if let known = sourceIndex[source] {
            index = known
        } else {
            index = sources.count
            sources.append(source)
            sourceIndex[source] = index
        }
        lastSource = source
        lastIndex = index
        Varint.append(UInt64(index), to: &body)
        Varint.append(offset, to: &body)
        Varint.append(UInt64(bytes.count), to: &body)
        body.append(contentsOf: bytes)
        recordCount += 1
        ranges.add(identity: source.identity, offset: offset, length: bytes.count)
    }

    public mutating func append(_ source: WireFormat.Source, offset: UInt64, bytes: [UInt8]) {
        bytes.withUnsafeBytes { append(source, offset: offset, bytes: $0) }
    }

    /// The batch's id: the same for the same node, files and offset ranges, however encoded.
    public var batchID: String { ranges.id(node: node) }

    /// The uncompressed batch.
    public func encoded() -> [UInt8] {
        let batch = parts()
        return batch.header + batch.records
    }

    /// The uncompressed batch as its two parts, which `encoded()` joins: deflated one after the
    /// other as one stream (`Deflater.compress(_:)` with both) without copying the records.
    public func parts() -> Encoded {
        Encoded(header: header(), records: body)
    }

    /// A batch as `parts()` makes it.
    public struct Encoded: Sendable {
        public var header: [UInt8]
        public var records: [UInt8]
        public var count: Int { header.count + records.count }
        public static let empty = Encoded(header: [], records: [])

        public func withBuffers<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
            try header.withUnsafeBytes { h in try records.withUnsafeBytes { r in try body([h, r]) } }
        }
    }

    private func header() -> [UInt8] {
        var out = WireFormat.magic
        out.append(WireFormat.version)
        out.append(0)
        Varint.appendString(node, to: &out)
        Varint.appendString(cluster, to: &out)
        Varint.append(UInt64(sources.count), to: &out)
        for s in sources {
            out.append(s.kind.rawValue)
            Varint.appendString(s.path, to: &out)
            Varint.appendString(s.identity, to: &out)
        }
        Varint.append(UInt64(recordCount), to: &out)
        return out
    }

    /// The batch as sent: zlib (RFC 1950) deflated.
    public func deflated(level: Int32 = 1) throws -> [UInt8] {
        try parts().withBuffers { try Deflater(level: level).compress($0) }
    }
}

/// Offset ranges per file, from which the batch id is derived.
struct BatchRanges {
    private var ranges: [String: (first: UInt64, end: UInt64)] = [:]
    // Records come in runs from one file: the run is folded into the table when it ends.
    private var runIdentity = ""
    private var runFirst: UInt64 = 0
    private var runEnd: UInt64 = 0
    private var inRun = false

    mutating func add(identity: String, offset: UInt64, length: Int) {
        let end = offset &+ UInt64(length)
        if inRun && runIdentity == identity {
            runFirst = min(runFirst, offset)
            runEnd = max(runEnd, end)
            return
        }
        endRun()
        runIdentity = identity
        runFirst = offset
        runEnd = end
        inRun = true
    }

    private mutating func endRun() {
        guard inRun else { return }
        inRun = false
        fold(runIdentity, runFirst, runEnd)
    }

    private mutating func fold(_ identity: String, _ offset: UInt64, _ end: UInt64) {
        if let r = ranges[identity] {
            ranges[identity] = (min(r.first, offset), max(r.end, end))
        } else {
            ranges[identity] = (offset, end)
        }
    }

    func id(node: String) -> String {
        var all = self
        all.endRun()
        return all.hashed(node: node)
    }

    private func hashed(node: String) -> String {
        // Sorted so the id does not depend on record order; hashed with SHA-256 (no Foundation).
        var text = "kubetrail-batch-v1\n" + node + "\n"
        for (identity, r) in ranges.sorted(by: { $0.key < $1.key }) {
            text += identity + "\n" + String(r.first) + "-" + String(r.end) + "\n"
        }
        return SHA256Hex.digest(Array(text.utf8), hexDigits: 32)
    }
}

enum Varint {
    static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        append(UInt64(s.utf8.count), to: &out)
        out.append(contentsOf: s.utf8)
    }
}
