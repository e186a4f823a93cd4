import KubetrailCore
import Foundation

/// The distinct values of one string column chunk, numbered in order of first appearance: an
/// open-addressing table over one byte arena, so a chunk of a hundred thousand repeated names
/// costs one copy of each name, not a Swift String each.
struct ByteDictionary {
    private(set) var arena: [UInt8] = []
    /// End offset in `arena` of each entry.
    private(set) var ends: [Int32] = []
    private var hashes: [UInt64] = []
    /// Entry index + 1 per slot; 0 is empty.
    private var slots: [Int32] = Array(repeating: 0, count: 1024)

    var count: Int { ends.count }
    /// Bytes the dictionary page's PLAIN encoding takes.
    var plainSize: Int { arena.count + 4 * ends.count }

    func range(of entry: Int) -> Range<Int> { (entry == 0 ? 0 : Int(ends[entry - 1]))..<Int(ends[entry]) }

    /// The entry number of `value`, adding it when new.
    mutating func index(of value: UnsafeRawBufferPointer) -> UInt32 {
        let h = ByteHash.of(value)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = Int(slots[slot])
            if e == 0 { break }
            if hashes[e - 1] == h && equals(entry: e - 1, value) { return UInt32(e - 1) }
            slot = (slot + 1) & mask
        }
        arena.append(contentsOf: value)
        ends.append(Int32(arena.count))
        hashes.append(h)
        slots[slot] = Int32(ends.count)
        if ends.count * 2 > slots.count { grow() }
        return UInt32(ends.count - 1)
    }

    private func equals(entry: Int, _ value: UnsafeRawBufferPointer) -> Bool {
        let r = range(of: entry)
        guard r.count == value.count else { return false }
        if r.isEmpty { return true }
        return arena.withUnsafeBytes { memcmp($0.baseAddress! + r.lowerBound, value.baseAddress!, r.count) == 0 }
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        let mask = slots.count - 1
        for (i, h) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: h) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(i + 1)
        }
    }
}
