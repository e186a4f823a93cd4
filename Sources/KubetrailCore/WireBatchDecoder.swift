/// Decodes a batch incrementally from any chunking of its bytes (e.g. straight from the
/// inflater), delivering records as they complete. It holds at most one partial record, and
/// every declared length is checked against the limits before it is waited for, so hostile
/// input costs neither unbounded memory nor a crash.
public struct WireBatchDecoder {
    public let limits: WireFormat.Limits
    public private(set) var header: WireFormat.Header?
    public private(set) var recordsDecoded = 0

    private enum Phase { case preamble, sources(remaining: Int), recordCount, records(remaining: Int), done }
    private var phase = Phase.preamble
    private var node = "", cluster = ""
    private var sources: [WireFormat.Source] = []
    private var buffer: [UInt8] = []
    private var ranges = BatchRanges()

    public init(limits: WireFormat.Limits = .init()) {
        self.limits = limits
    }

    /// The batch id, once the whole batch has been decoded.
    public var batchID: String? {
        guard case .done = phase, let header else { return nil }
        return ranges.id(node: header.node)
    }

    /// Bytes held while waiting for the rest of a record: bounded by the record limit.
    public var bufferedBytes: Int { buffer.count }

    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ onRecord: (WireFormat.Record) throws -> Void) throws {
        // The pending bytes are moved out of `self` while `step` mutates it: no access to
        // `buffer` overlaps the decoding that reads it.
        var pending: [UInt8] = []
        swap(&pending, &buffer)
        pending.append(contentsOf: chunk)
        var consumed = 0
        defer {
            if consumed > 0 { pending.removeFirst(consumed) }
            swap(&pending, &buffer)
        }
        try pending.withUnsafeBytes { raw in
            var r = Reader(bytes: raw, position: 0)
            while true {
                let start = r.position
                guard let progressed = try step(&r, onRecord), progressed else {
                    r.position = start
                    break
                }
                consumed = r.position
            }
        }
    }

    public mutating func feed(_ bytes: [UInt8], _ onRecord: (WireFormat.Record) throws -> Void) throws {
        try bytes.withUnsafeBytes { try feed($0, onRecord) }
    }

    /// Call after the last chunk: a batch that stopped early is an error.
    public func finish() throws(WireFormatError) {
        switch phase {
        case .done:
            if !buffer.isEmpty { throw .trailingBytes(buffer.count) }
        case .preamble: throw .truncated(expected: "the header")
        case .sources: throw .truncated(expected: "the source table")
        case .recordCount: throw .truncated(expected: "the record count")
        case .records(let remaining): throw .truncated(expected: "record \(recordsDecoded + 1) (\(remaining) of the declared records missing)")
        }
    }

    /// Decodes one unit; nil when more bytes are needed.
    private mutating func step(_ r: inout Reader, _ onRecord: (WireFormat.Record) throws -> Void) throws -> Bool? {
        switch phase {
        case .preamble:
            guard r.remaining >= 6 else {
                // Reject a wrong magic as soon as its bytes arrive, not after waiting for more.
                for i in 0..<min(r.remaining, 4) where r.bytes[i] != WireFormat.magic[i] { throw WireFormatError.badMagic }
                return nil
            }
            for i in 0..<4 where r.bytes[r.position + i] != WireFormat.magic[i] { throw WireFormatError.badMagic }
            let version = r.bytes[r.position + 4], flags = r.bytes[r.position + 5]
            guard version == WireFormat.version else { throw WireFormatError.unsupportedVersion(version) }
            guard flags == 0 else { throw WireFormatError.badFlags(flags) }
            r.position += 6
            guard let node = try r.string("node", limits.maxStringBytes),
                let cluster = try r.string("cluster", limits.maxStringBytes),
                let count = try r.varint()
            else { return nil }
            guard count <= UInt64(limits.maxSources) else {
                throw WireFormatError.limitExceeded(what: "source count", declared: count, limit: limits.maxSources)
            }
            self.node = node
            self.cluster = cluster
            phase = count == 0 ? .recordCount : .sources(remaining: Int(count))
            return true
        case .sources(let remaining):
            guard r.remaining >= 1 else { return nil }
            let rawKind = r.bytes[r.position]
            guard let kind = WireFormat.RecordKind(rawValue: rawKind) else { throw WireFormatError.unknownKind(rawKind) }
            r.position += 1
            guard let path = try r.string("source path", limits.maxStringBytes),
                let identity = try r.string("source identity", limits.maxStringBytes)
            else { return nil }
            sources.append(WireFormat.Source(kind: kind, path: path, identity: identity))
            phase = remaining > 1 ? .sources(remaining: remaining - 1) : .recordCount
            return true
        case .recordCount:
            guard let count = try r.varint() else { return nil }
            guard count <= UInt64(limits.maxRecords) else {
                throw WireFormatError.limitExceeded(what: "record count", declared: count, limit: limits.maxRecords)
            }
            header = WireFormat.Header(node: node, cluster: cluster, sources: sources)
            phase = count == 0 ? .done : .records(remaining: Int(count))
            return true
        case .records(let remaining):
            guard let source = try r.varint(), let offset = try r.varint(), let length = try r.varint() else { return nil }
            guard source < UInt64(sources.count) else { throw WireFormatError.badSourceIndex(source, count: sources.count) }
            guard length <= UInt64(limits.maxRecordBytes) else {
                throw WireFormatError.limitExceeded(what: "record length", declared: length, limit: limits.maxRecordBytes)
            }
            // The record and its newline must fit in a file offset: no arithmetic later can wrap.
            guard offset <= UInt64(Int64.max) - length - 1 else { throw WireFormatError.offsetOutOfRange(offset) }
            guard r.remaining >= Int(length) else { return nil }
            let bytes = UnsafeRawBufferPointer(rebasing: r.bytes[r.position..<(r.position + Int(length))])
            r.position += Int(length)
            recordsDecoded += 1
            ranges.add(identity: sources[Int(source)].identity, offset: offset, length: Int(length))
            phase = remaining > 1 ? .records(remaining: remaining - 1) : .done
            try onRecord(WireFormat.Record(header: header!, source: Int(source), offset: offset, bytes: bytes))
            return true
        case .done:
            if r.remaining > 0 { throw WireFormatError.trailingBytes(r.remaining) }
            return nil
        }
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        var remaining: Int { bytes.count - position }

        /// An unsigned LEB128 value; nil when the input ends inside it.
        mutating func varint() throws(WireFormatError) -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            var i = position
            while i < bytes.count {
                let b = bytes[i]
                if shift == 63 && b > 1 { throw .varintTooLong }
                value |= UInt64(b & 0x7F) << shift
                i += 1
                if b & 0x80 == 0 {
                    position = i
                    return value
                }
                shift += 7
                if shift > 63 { throw .varintTooLong }
            }
            return nil
        }

        mutating func string(_ field: String, _ limit: Int) throws(WireFormatError) -> String? {
            let start = position
            guard let length = try varint() else { return nil }
            guard length <= UInt64(limit) else { throw .limitExceeded(what: field, declared: length, limit: limit) }
            guard remaining >= Int(length) else { position = start; return nil }
            let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(length))])
            guard let s = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8(field: field) }
            position += Int(length)
            return s
        }
    }
}
