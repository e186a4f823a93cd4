import Foundation

/// One column's values for the row group being built: levels, then values in the column's
/// physical form. Strings go through a dictionary until it grows past `dictionaryLimit`, then
/// the chunk falls back to PLAIN (as Arrow and DuckDB do for high-cardinality columns).
final class ColumnChunkBuffer {
    static let dictionaryLimit = 1 << 20

    let column: ParquetColumn
    private(set) var rows = 0
    /// Definition / repetition levels, one per entry (empty when the level is always 0).
    var definitionLevels: [UInt8] = []
    var repetitionLevels: [UInt8] = []
    private(set) var entries = 0
    private(set) var nullRows = 0

    var int64s: [Int64] = []
    var int32s: [Int32] = []
    var booleans: [Bool] = []
    /// PLAIN string values (used once the dictionary is given up).
    var arena: [UInt8] = []
    var ends: [Int32] = []
    var dictionary: ByteDictionary?
    var indices: [UInt32] = []

    init(column: ParquetColumn) {
        self.column = column
        if column.physicalType == .byteArray { dictionary = ByteDictionary() }
    }

    /// Values (not nulls) buffered.
    var valueCount: Int {
        switch column.physicalType {
        case .byteArray: return dictionary == nil ? ends.count : indices.count
        case .int64: return int64s.count
        case .int32: return int32s.count
        case .boolean: return booleans.count
        }
    }

    /// Memory the buffer holds, for cutting row groups by size.
    var bufferedBytes: Int {
        definitionLevels.count + repetitionLevels.count + int64s.count * 8 + int32s.count * 4 + booleans.count
            + arena.count + ends.count * 4 + indices.count * 4 + (dictionary?.plainSize ?? 0) * 2
    }

    func reset() {
        rows = 0; entries = 0; nullRows = 0
        definitionLevels.removeAll(keepingCapacity: true)
        repetitionLevels.removeAll(keepingCapacity: true)
        int64s.removeAll(keepingCapacity: true)
        int32s.removeAll(keepingCapacity: true)
        booleans.removeAll(keepingCapacity: true)
        arena.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        indices.removeAll(keepingCapacity: true)
        if column.physicalType == .byteArray { dictionary = ByteDictionary() }
    }

    func appendNull() throws {
        guard column.nullable else { throw ParquetError("column \(column.name) is not nullable but a row has no value for it") }
        definitionLevels.append(0)
        if column.maxRepetitionLevel > 0 { repetitionLevels.append(0) }
        entries += 1
        rows += 1
        nullRows += 1
    }

    private func present() {
        if column.maxDefinitionLevel > 0 { definitionLevels.append(UInt8(column.maxDefinitionLevel)) }
        entries += 1
        rows += 1
    }

    func append(int64 v: Int64) { present(); int64s.append(v) }
    func append(int32 v: Int32) { present(); int32s.append(v) }
    func append(bool v: Bool) { present(); booleans.append(v) }

    func append(string bytes: UnsafeRawBufferPointer) {
        present()
        addString(bytes)
    }

    /// A list row: empty lists and lists of strings (elements are never null here).
    func append(list elements: [String]) {
        rows += 1
        if elements.isEmpty {
            definitionLevels.append(UInt8(column.maxDefinitionLevel - 2))
            repetitionLevels.append(0)
            entries += 1
            return
        }
        for (i, e) in elements.enumerated() {
            repetitionLevels.append(i == 0 ? 0 : 1)
            definitionLevels.append(UInt8(column.maxDefinitionLevel))
            entries += 1
            var e = e
            e.withUTF8 { addString(UnsafeRawBufferPointer($0)) }
        }
    }

    /// A list row of `count` elements given in place (from stored JSON text, say).
    func append(listOf count: Int, _ element: (Int) -> UnsafeRawBufferPointer) {
        rows += 1
        if count == 0 {
            definitionLevels.append(UInt8(column.maxDefinitionLevel - 2))
            repetitionLevels.append(0)
            entries += 1
            return
        }
        for i in 0..<count {
            repetitionLevels.append(i == 0 ? 0 : 1)
            definitionLevels.append(UInt8(column.maxDefinitionLevel))
            entries += 1
            addString(element(i))
        }
    }

    private func addString(_ bytes: UnsafeRawBufferPointer) {
        if dictionary != nil {
            indices.append(dictionary!.index(of: bytes))
            if dictionary!.plainSize > Self.dictionaryLimit { giveUpDictionary() }
        } else {
            arena.append(contentsOf: bytes)
            ends.append(Int32(arena.count))
        }
    }

    /// Turns the dictionary-coded values into PLAIN ones.
    private func giveUpDictionary() {
        guard let d = dictionary else { return }
        d.arena.withUnsafeBufferPointer { source in
            for i in indices {
                let r = d.range(of: Int(i))
                arena.append(contentsOf: source[r])
                ends.append(Int32(arena.count))
            }
        }
        indices = []
        dictionary = nil
    }
}
