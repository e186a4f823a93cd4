import Foundation
import KubetrailCore

/// Ids for the distinct values of one column, met as bytes during a scan: on PostgreSQL, which
/// keeps no dictionary of values, a scan numbers them itself, so a detection test of a user
/// agent or a group list runs once per distinct value, as on SQLite's interned columns.
///
/// A column with more distinct values than `maxValues` (a URI, a name) is given up: from then
/// on it has no ids, and its rows cost no more hashing.
final class ValueInterner {
    static let maxValues = 4096
    static let maxBytes = 4 << 20

    private struct Slot {
        var hash: UInt64
        var offset: Int
        var count: Int
        /// -1: empty.
        var id: Int64
    }

    private let slots: UnsafeMutableBufferPointer<Slot>
    private let mask: Int
    private var bytes: UnsafeMutableRawBufferPointer
    private var used = 0
    private var count: Int64 = 0
    private(set) var givenUp = false
    /// The row the last id is for: a column tested by several rules is hashed once per row.
    private var lastRow = -1
    private var lastID: Int64?

    init() {
        let capacity = 2 * Self.maxValues
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(hash: 0, offset: 0, count: 0, id: -1))
        mask = capacity - 1
        bytes = .allocate(byteCount: 64 << 10, alignment: 8)
    }

    deinit {
        slots.deallocate()
        bytes.deallocate()
    }

    /// The id of `value` (the same for equal bytes), or nil once the column has been given up.
    /// `row` numbers the scan's rows: a second call for the same row returns the first answer.
    func id(_ value: UnsafeRawBufferPointer, row: Int) -> Int64? {
        if row == lastRow { return lastID }
        lastRow = row
        lastID = givenUp ? nil : lookUp(value)
        return lastID
    }

    private func lookUp(_ value: UnsafeRawBufferPointer) -> Int64? {
        let h = ByteHash.of(value)
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i].id >= 0 {
            let s = slots[i]
            if s.hash == h, s.count == value.count,
                s.count == 0 || memcmp(bytes.baseAddress! + s.offset, value.baseAddress!, s.count) == 0
            {
                return s.id
            }
            i = (i + 1) & mask
        }
        guard count < Self.maxValues, used + value.count <= Self.maxBytes else {
            givenUp = true
            return nil
        }
        if used + value.count > bytes.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count * 2, used + value.count), alignment: 8)
            grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<used]))
            bytes.deallocate()
            bytes = grown
        }
        if value.count > 0 { (bytes.baseAddress! + used).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        slots[i] = Slot(hash: h, offset: used, count: value.count, id: count)
        used += value.count
        count += 1
        return count - 1
    }
}
