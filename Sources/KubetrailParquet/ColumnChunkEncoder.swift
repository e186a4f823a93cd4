import Foundation

/// What the footer records about one written column chunk.
struct ColumnChunkMetadata {
    var column: ParquetColumn
    var encodings: [Encoding]
    var values: Int
    var uncompressedBytes: Int
    var compressedBytes: Int
    var startOffset: Int
    var dataPageOffset: Int
    var dictionaryPageOffset: Int?
    var statistics: ColumnStatistics
}

struct ColumnStatistics {
    var min: [UInt8]?
    var max: [UInt8]?
    var nullCount: Int?
    /// Signed numbers also fill the deprecated min/max fields older readers look at.
    var alsoLegacy = false
    /// Longer string bounds are left out rather than bloating the footer.
    static let maxStringBound = 64
}

/// Writes one column chunk: a dictionary page when the chunk kept its dictionary, then data
/// pages (v1) of about `pageSize` bytes each, cut only where a row starts.
struct ColumnChunkEncoder {
    var pageSize = 1 << 20

    func write(_ b: ColumnChunkBuffer, compressor: PageCompressor, at offset: Int, emit: ([UInt8]) throws -> Void) throws -> ColumnChunkMetadata {
        var position = offset
        var uncompressed = 0, compressed = 0
        var dictionaryOffset: Int?

        func page(_ body: [UInt8], header: (inout ThriftCompactWriter, Int, Int) -> Void) throws {
            let packed = try compressor.compress(body)
            var h = ThriftCompactWriter()
            h.structBody { header(&$0, body.count, packed.count) }
            try emit(h.bytes)
            try emit(packed)
            position += h.bytes.count + packed.count
            uncompressed += h.bytes.count + body.count
            compressed += h.bytes.count + packed.count
        }

        // A chunk with no values (all null) has nothing to put in a dictionary.
        let dictionary = b.valueCount > 0 ? b.dictionary : nil
        var encodings: [Encoding] = [.plain]
        if b.column.maxDefinitionLevel > 0 || b.column.maxRepetitionLevel > 0 { encodings.append(.rle) }
        if let d = dictionary {
            encodings.append(.rleDictionary)
            dictionaryOffset = position
            var body: [UInt8] = []
            body.reserveCapacity(d.plainSize)
            d.arena.withUnsafeBufferPointer { arena in
                for i in 0..<d.count {
                    let r = d.range(of: i)
                    appendLE(&body, UInt32(r.count))
                    body.append(contentsOf: arena[r])
                }
            }
            try page(body) { w, raw, packed in
                w.field(1, i32: PageType.dictionaryPage.rawValue)
                w.field(2, i32: Int32(raw))
                w.field(3, i32: Int32(packed))
                w.field(7) { w in
                    w.field(1, i32: Int32(d.count))
                    w.field(2, i32: Encoding.plain.rawValue)
                }
            }
        }

        let dataOffset = position
        let maxDef = b.column.maxDefinitionLevel, maxRep = b.column.maxRepetitionLevel
        var entry = 0, value = 0
        while entry < b.entries {
            let firstEntry = entry, firstValue = value
            var estimate = 0
            repeat {
                let hasValue = maxDef == 0 || Int(b.definitionLevels[entry]) == maxDef
                if hasValue {
                    estimate += valueSize(b, value)
                    value += 1
                }
                entry += 1
            } while entry < b.entries && (estimate < pageSize || (maxRep > 0 && b.repetitionLevels[entry] != 0))
            var body: [UInt8] = []
            body.reserveCapacity(estimate + 64)
            if maxRep > 0 { levels(&body, b.repetitionLevels[firstEntry..<entry], max: maxRep) }
            if maxDef > 0 { levels(&body, b.definitionLevels[firstEntry..<entry], max: maxDef) }
            values(&body, b, dictionary, firstValue..<value)
            let count = entry - firstEntry
            try page(body) { w, raw, packed in
                w.field(1, i32: PageType.dataPage.rawValue)
                w.field(2, i32: Int32(raw))
                w.field(3, i32: Int32(packed))
                w.field(5) { w in
                    w.field(1, i32: Int32(count))
                    w.field(2, i32: (dictionary == nil ? Encoding.plain : .rleDictionary).rawValue)
                    w.field(3, i32: Encoding.rle.rawValue)
                    w.field(4, i32: Encoding.rle.rawValue)
                }
            }
        }
        return ColumnChunkMetadata(
            column: b.column, encodings: encodings, values: b.entries, uncompressedBytes: uncompressed,
            compressedBytes: compressed, startOffset: offset, dataPageOffset: dataOffset,
            dictionaryPageOffset: dictionaryOffset, statistics: statistics(b))
    }

    private func valueSize(_ b: ColumnChunkBuffer, _ i: Int) -> Int {
        switch b.column.physicalType {
        case .byteArray:
            if b.dictionary != nil { return 2 }
            return Int(b.ends[i]) - (i == 0 ? 0 : Int(b.ends[i - 1])) + 4
        case .int64: return 8
        case .int32: return 4
        case .boolean: return 1
        }
    }

    /// Levels as a v1 data page stores them: a 4-byte length, then the RLE hybrid.
    private func levels(_ body: inout [UInt8], _ levels: ArraySlice<UInt8>, max: Int) {
        var encoder = RLEHybridEncoder(bitWidth: RLEHybridEncoder.bitWidth(for: max))
        for l in levels { encoder.append(UInt32(l)) }
        let bytes = encoder.finish()
        appendLE(&body, UInt32(bytes.count))
        body.append(contentsOf: bytes)
    }

    private func values(_ body: inout [UInt8], _ b: ColumnChunkBuffer, _ dictionary: ByteDictionary?, _ r: Range<Int>) {
        switch b.column.physicalType {
        case .int64:
            b.int64s[r].withUnsafeBytes { body.append(contentsOf: $0) }
        case .int32:
            b.int32s[r].withUnsafeBytes { body.append(contentsOf: $0) }
        case .boolean:
            var byte: UInt8 = 0, bit = 0
            for v in b.booleans[r] {
                if v { byte |= 1 << bit }
                bit += 1
                if bit == 8 { body.append(byte); byte = 0; bit = 0 }
            }
            if bit > 0 { body.append(byte) }
        case .byteArray:
            if let d = dictionary {
                let width = max(1, RLEHybridEncoder.bitWidth(for: d.count - 1))
                body.append(UInt8(width))
                var encoder = RLEHybridEncoder(bitWidth: width)
                for i in b.indices[r] { encoder.append(i) }
                body.append(contentsOf: encoder.finish())
            } else {
                b.arena.withUnsafeBufferPointer { arena in
                    for i in r {
                        let start = i == 0 ? 0 : Int(b.ends[i - 1]), end = Int(b.ends[i])
                        appendLE(&body, UInt32(end - start))
                        body.append(contentsOf: arena[start..<end])
                    }
                }
            }
        }
    }

    private func statistics(_ b: ColumnChunkBuffer) -> ColumnStatistics {
        var s = ColumnStatistics()
        guard b.column.kind != .stringList else { return s }
        s.nullCount = b.nullRows
        switch b.column.physicalType {
        case .int64:
            if let lo = b.int64s.min(), let hi = b.int64s.max() {
                s.min = le(lo); s.max = le(hi); s.alsoLegacy = true
            }
        case .int32:
            if let lo = b.int32s.min(), let hi = b.int32s.max() {
                s.min = le(lo); s.max = le(hi); s.alsoLegacy = true
            }
        case .boolean:
            if !b.booleans.isEmpty {
                s.min = [b.booleans.contains(false) ? 0 : 1]
                s.max = [b.booleans.contains(true) ? 1 : 0]
            }
        case .byteArray:
            var lo: Range<Int>?, hi: Range<Int>?
            let arena = b.dictionary?.arena ?? b.arena
            let count = b.dictionary?.count ?? b.ends.count
            func range(_ i: Int) -> Range<Int> {
                if let d = b.dictionary { return d.range(of: i) }
                return (i == 0 ? 0 : Int(b.ends[i - 1]))..<Int(b.ends[i])
            }
            arena.withUnsafeBytes { bytes in
                func less(_ x: Range<Int>, _ y: Range<Int>) -> Bool {
                    let n = Swift.min(x.count, y.count)
                    let c = n == 0 ? 0 : memcmp(bytes.baseAddress! + x.lowerBound, bytes.baseAddress! + y.lowerBound, n)
                    return c != 0 ? c < 0 : x.count < y.count
                }
                for i in 0..<count {
                    let r = range(i)
                    if lo == nil || less(r, lo!) { lo = r }
                    if hi == nil || less(hi!, r) { hi = r }
                }
            }
            if let lo, let hi, lo.count <= ColumnStatistics.maxStringBound, hi.count <= ColumnStatistics.maxStringBound {
                s.min = Array(arena[lo]); s.max = Array(arena[hi])
            }
        }
        return s
    }
}

@inline(__always) func appendLE(_ body: inout [UInt8], _ v: UInt32) {
    withUnsafeBytes(of: v.littleEndian) { body.append(contentsOf: $0) }
}

@inline(__always) func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
