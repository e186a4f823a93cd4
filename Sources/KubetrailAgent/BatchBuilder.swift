import KubetrailCore

/// Where a batch leaves each file: the offsets checkpoints advance to once it is acknowledged.
struct FileEnd: Sendable {
    var key: String
    var end: UInt64
}

/// A sealed batch on its way to the aggregator.
struct OutgoingBatch: Sendable {
    var sequence: UInt64
    /// The zlib-deflated wire batch, as POSTed (empty until the compressor has run).
    var body: [UInt8]
    /// The encoded batch before deflate; released once `body` is made.
    var raw: WireBatchEncoder.Encoded
    /// Uncompressed size: what counts against the read-ahead bound.
    var rawBytes: Int
    var records: Int
    var batchID: String
    var ends: [FileEnd]
    var node: String
    var cluster: String
}

/// Collects records from many files into one wire batch until it is big or old enough.
struct BatchBuilder {
    let node: String
    let cluster: String
    private(set) var encoder: WireBatchEncoder
    private var ends: [String: Int] = [:]
    private var endList: [FileEnd] = []
    private var lastEnd: Int?
    private(set) var openedAt: Double = 0
    private var nextSequence: UInt64 = 1

    /// The batch size the agent seals at: each batch's buffer is made that big at once.
    let expectedBytes: Int
    /// Where the buffers of deflated batches come back from, to be filled again.
    private let buffers: BatchBufferPool?

    init(node: String, cluster: String, expectedBytes: Int = 0, buffers: BatchBufferPool? = nil) {
        self.node = node
        self.cluster = cluster
        self.expectedBytes = expectedBytes
        self.buffers = buffers
        encoder = WireBatchEncoder(node: node, cluster: cluster)
    }

    /// An idle agent's open batch holds no memory: a reused buffer is let go of.
    mutating func releaseBuffer() {
        guard isEmpty else { return }
        encoder = WireBatchEncoder(node: node, cluster: cluster)
    }

    var isEmpty: Bool { encoder.recordCount == 0 }
    var bytes: Int { encoder.recordBytes }

    mutating func add(_ source: WireFormat.Source, key: String, record: RecordFramer.Record) {
        if isEmpty {
            openedAt = monotonicSeconds()
            // An empty batch has no buffer (each is begun without one): it takes one with its
            // first record, not when the batch before it is sealed, so that while reading waits
            // for the compressor the next batch holds no memory, and the buffer it takes is the
            // one the compressor has just handed back.
            encoder = WireBatchEncoder(node: node, cluster: cluster, reservingBytes: expectedBytes, reusing: buffers?.take() ?? [])
        }
        encoder.append(source, offset: record.offset, bytes: record.bytes)
        if let i = lastEnd, endList[i].key == key {
            endList[i].end = record.end
        } else if let i = ends[key] {
            lastEnd = i
            endList[i].end = record.end
        } else {
            ends[key] = endList.count
            lastEnd = endList.count
            endList.append(FileEnd(key: key, end: record.end))
        }
    }

    /// Encodes what was collected and starts a new batch (the shipper deflates it).
    mutating func seal() -> OutgoingBatch {
        let raw = encoder.parts()
        let batch = OutgoingBatch(
            sequence: nextSequence, body: [], raw: raw, rawBytes: raw.count, records: encoder.recordCount,
            batchID: encoder.batchID, ends: endList, node: node, cluster: cluster)
        nextSequence += 1
        encoder = WireBatchEncoder(node: node, cluster: cluster)
        ends = [:]
        endList = []
        lastEnd = nil
        return batch
    }
}

/// Splits a batch the aggregator found too large (413) into two halves, by records, keeping
/// file order. The halves' ends are recomputed from their records.
enum BatchSplitter {
    static func halves(of batch: OutgoingBatch, level: Int32) throws -> [OutgoingBatch]? {
        let raw = try Inflater.inflate(batch.body, format: .zlib)
        var records: [(WireFormat.Source, UInt64, [UInt8])] = []
        var decoder = WireBatchDecoder()
        try decoder.feed(raw) { r in records.append((r.header.sources[r.source], r.offset, Array(r.bytes))) }
        try decoder.finish()
        guard records.count > 1 else { return nil }
        let middle = records.count / 2
        let parts = [records[..<middle], records[middle...]]
        var out: [OutgoingBatch] = []
        for (index, part) in parts.enumerated() {
            var encoder = WireBatchEncoder(node: batch.node, cluster: batch.cluster)
            for (source, offset, bytes) in part { encoder.append(source, offset: offset, bytes: bytes) }
            // Records of a file are contiguous, so the first half of a file ends where its
            // first record in the second half starts.
            var ends: [FileEnd] = []
            for original in batch.ends where part.contains(where: { $0.0.identity == original.key }) {
                let next = index == 0 ? parts[1].first(where: { $0.0.identity == original.key })?.1 : nil
                ends.append(FileEnd(key: original.key, end: next ?? original.end))
            }
            let encoded = encoder.parts()
            out.append(
                OutgoingBatch(
                    sequence: batch.sequence, body: try encoded.withBuffers { try Deflater(level: level).compress($0) }, raw: .empty,
                    rawBytes: encoded.count, records: encoder.recordCount, batchID: encoder.batchID,
                    ends: ends, node: batch.node, cluster: batch.cluster))
        }
        return out
    }
}
