import KubetrailTables

/// One agent batch, decoded and normalized, ready to commit as a unit.
public struct IngestBatch: Sendable {
    /// nil for sources without a batch identity (the audit webhook): rows dedupe on tp_id alone.
    public var batchID: String?
    public var node: String
    public var records = 0
    public var audit: [AuditLogRow] = []
    public var podLogs: [PodLogRow] = []
    /// The first rejections in full (for the reply), and a count per reason of all of them:
    /// a batch of garbage lines must not turn into millions of stored explanations.
    public private(set) var rejected: [RecordRejection] = []
    public private(set) var rejectedByReason: [String: Int] = [:]
    public private(set) var rejectedCount = 0
    public static let detailedRejections = 100

    public var rowCount: Int { audit.count + podLogs.count }

    public mutating func reject(_ rejection: RecordRejection) {
        rejectedCount += 1
        rejectedByReason[rejection.reason, default: 0] += 1
        if rejected.count < Self.detailedRejections { rejected.append(rejection) }
    }

    public init(batchID: String?, node: String) {
        self.batchID = batchID
        self.node = node
    }
}

/// A record that did not become a row, reported back to the agent so it does not resend it.
public struct RecordRejection: Sendable, Equatable {
    public var reason: String
    public var detail: String
    public var path: String
    public var offset: UInt64
}

/// Turns wire records into rows, as they stream out of the decoder.
struct IngestNormalizer {
    let clusterOverride: String?
    let ingestTime: Timestamp
    var batch: IngestBatch
    private var normalizers: [Int: PodLogNormalizer] = [:]

    init(node: String, clusterOverride: String?, ingestTime: Timestamp) {
        self.clusterOverride = clusterOverride
        self.ingestTime = ingestTime
        batch = IngestBatch(batchID: nil, node: node)
    }

    mutating func add(_ record: WireFormat.Record) {
        let header = record.header
        batch.records += 1
        let source = header.sources[record.source]
        let cluster = clusterOverride ?? (header.cluster.isEmpty ? nil : header.cluster)
        switch source.kind {
        case .truncatedAuditLine:
            // Half an event is not an event: say so loudly rather than store a guess.
            reject("truncated_by_agent", "audit event longer than the agent's cap; its first \(record.bytes.count) bytes arrived", source, record.offset)
        case .auditLine:
            let context = IngestContext(
                clusterName: cluster, sourceType: .auditFile, sourceName: header.node,
                sourceLocation: source.path, ingestTimestamp: ingestTime)
            AuditDecoder.decode(record.bytes, context: context) { outcome in
                switch outcome {
                case .row(let row): batch.audit.append(row)
                case .skipped: break
                case .rejected(let r): reject(r.reason, r.description, source, record.offset)
                }
            }
        case .containerLogLine, .truncatedContainerLogLine:
            let cut = source.kind == .truncatedContainerLogLine
            let normalizer = podLogNormalizer(record.source, source, header, cluster)
            // A record is one logical line: a single line, or a CRI P…F group joined by newlines.
            var assembler = ContainerLogAssembler()
            var lineStart = 0
            let bytes = record.bytes
            var produced: [ContainerLogAssembler.Record] = []
            while lineStart <= bytes.count {
                var end = lineStart
                while end < bytes.count, bytes[end] != 0x0A { end += 1 }
                let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<end])
                let offset = record.offset &+ UInt64(lineStart)
                do {
                    let parsed = try ContainerLogLine.parse(line)
                    if let done = assembler.add(parsed, offset: Int64(bitPattern: offset), lineNumber: 0) { produced.append(done) }
                } catch {
                    if error != .empty { reject(error.reason, error.description, source, offset) }
                }
                lineStart = end + 1
            }
            produced += assembler.finish()
            for var r in produced {
                // The agent cut this record at its cap: what arrived is complete as far as it goes.
                if cut { r.truncated = true; r.incomplete = false }
                batch.podLogs.append(normalizer.row(r))
            }
        }
    }

    private mutating func podLogNormalizer(_ index: Int, _ source: WireFormat.Source, _ header: WireFormat.Header, _ cluster: String?) -> PodLogNormalizer {
        if let n = normalizers[index] { return n }
        // The path may end in `#<container id>` (docs/wire-format.md); the location is the file.
        let location = source.path.split(separator: "#", maxSplits: 1).first.map(String.init) ?? source.path
        let context = IngestContext(
            clusterName: cluster, sourceType: .containerFile, sourceName: header.node,
            sourceLocation: location, ingestTimestamp: ingestTime)
        let n = PodLogNormalizer(
            context: context, path: ContainerLogPath(path: source.path), nodeName: header.node,
            fileIdentity: source.identity)
        normalizers[index] = n
        return n
    }

    private mutating func reject(_ reason: String, _ detail: String, _ source: WireFormat.Source, _ offset: UInt64) {
        batch.reject(RecordRejection(reason: reason, detail: String(detail.prefix(200)), path: source.path, offset: offset))
    }
}
