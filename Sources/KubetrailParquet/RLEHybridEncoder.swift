/// Parquet's RLE / bit-packing hybrid for definition levels, repetition levels and dictionary
/// indices: runs of eight or more equal values become RLE runs, everything else is bit-packed
/// in groups of eight (the last group padded with zeros; readers know how many values there are).
struct RLEHybridEncoder {
    let bitWidth: Int
    private(set) var bytes: [UInt8] = []
    private var pending: [UInt32] = []
    private var runValue: UInt32 = 0
    private var runLength = 0

    init(bitWidth: Int) {
        self.bitWidth = bitWidth
        pending.reserveCapacity(512)
    }

    /// The bits needed for values up to `maxValue`.
    static func bitWidth(for maxValue: Int) -> Int { maxValue == 0 ? 0 : Int.bitWidth - maxValue.leadingZeroBitCount }

    mutating func append(_ v: UInt32) {
        if runLength > 0 && v == runValue {
            runLength += 1
            return
        }
        flushRun()
        runValue = v
        runLength = 1
    }

    mutating func append(_ v: UInt32, count: Int) {
        guard count > 0 else { return }
        append(v)
        runLength += count - 1
    }

    /// Ends the stream and returns its bytes.
    mutating func finish() -> [UInt8] {
        flushRun()
        while pending.count % 8 != 0 { pending.append(0) }
        flushPending(upTo: pending.count)
        return bytes
    }

    private mutating func flushRun() {
        guard runLength > 0 else { return }
        var length = runLength
        runLength = 0
        // Fill the bit-packed groups waiting so an RLE run can start on a group boundary.
        while pending.count % 8 != 0 && length > 0 {
            pending.append(runValue)
            length -= 1
        }
        if length >= 8 {
            flushPending(upTo: pending.count)
            writeRLE(runValue, length)
        } else {
            pending.append(contentsOf: repeatElement(runValue, count: length))
            // Keep bit-packed runs to 63 groups (one header byte); the rest waits.
            if pending.count >= 504 { flushPending(upTo: 504) }
        }
    }

    private mutating func writeRLE(_ value: UInt32, _ count: Int) {
        varint(UInt64(count) << 1)
        let width = (bitWidth + 7) / 8
        for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    /// Writes the first `count` waiting values (a multiple of eight) as bit-packed runs.
    private mutating func flushPending(upTo count: Int) {
        guard count > 0 else { return }
        var start = 0
        while start < count {
            let end = min(start + 504, count)
            varint(UInt64((end - start) / 8) << 1 | 1)
            var acc: UInt64 = 0
            var bits = 0
            for i in start..<end {
                acc |= UInt64(pending[i]) << UInt64(bits)
                bits += bitWidth
                while bits >= 8 {
                    bytes.append(UInt8(truncatingIfNeeded: acc))
                    acc >>= 8
                    bits -= 8
                }
            }
            // Eight values of any width end on a byte boundary.
            start = end
        }
        pending.removeFirst(count)
    }

    private mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
}
