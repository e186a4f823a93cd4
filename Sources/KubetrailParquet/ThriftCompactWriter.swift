/// Thrift's compact protocol, the encoding of every Parquet page header and of the footer.
/// Only writing, and only the types Parquet's metadata uses.
struct ThriftCompactWriter {
    enum FieldType: UInt8 {
        case boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7, binary = 8
        case list = 9, set = 10, map = 11, structure = 12
    }

    private(set) var bytes: [UInt8] = []
    /// The last field id of each open struct: field headers are deltas from it.
    private var lastField: [Int16] = [0]

    init() { bytes.reserveCapacity(256) }

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func zigzag(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    private mutating func fieldHeader(_ id: Int16, _ type: FieldType) {
        let delta = id - lastField[lastField.count - 1]
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            zigzag(Int64(id))
        }
        lastField[lastField.count - 1] = id
    }

    mutating func field(_ id: Int16, i32 v: Int32) { fieldHeader(id, .i32); zigzag(Int64(v)) }
    mutating func field(_ id: Int16, i64 v: Int64) { fieldHeader(id, .i64); zigzag(v) }
    mutating func field(_ id: Int16, byte v: Int8) { fieldHeader(id, .byte); bytes.append(UInt8(bitPattern: v)) }
    mutating func field(_ id: Int16, bool v: Bool) { fieldHeader(id, v ? .boolTrue : .boolFalse) }
    mutating func field(_ id: Int16, binary v: some Collection<UInt8>) {
        fieldHeader(id, .binary)
        varint(UInt64(v.count))
        bytes.append(contentsOf: v)
    }
    mutating func field(_ id: Int16, string v: String) { field(id, binary: Array(v.utf8)) }

    /// A nested struct field: `body` writes its fields.
    mutating func field(_ id: Int16, struct body: (inout ThriftCompactWriter) -> Void) {
        fieldHeader(id, .structure)
        structBody(body)
    }

    /// An empty struct (Parquet's unit types, e.g. `StringType`).
    mutating func field(_ id: Int16, emptyStruct: Void) { field(id, struct: { _ in }) }

    mutating func field(_ id: Int16, list elements: [Int32]) {
        fieldHeader(id, .list)
        listHeader(elements.count, .i32)
        for e in elements { zigzag(Int64(e)) }
    }

    mutating func field(_ id: Int16, strings elements: [String]) {
        fieldHeader(id, .list)
        listHeader(elements.count, .binary)
        for e in elements {
            let u = Array(e.utf8)
            varint(UInt64(u.count))
            bytes.append(contentsOf: u)
        }
    }

    mutating func field<T>(_ id: Int16, structs elements: [T], _ body: (inout ThriftCompactWriter, T) -> Void) {
        fieldHeader(id, .list)
        listHeader(elements.count, .structure)
        for e in elements { structBody { body(&$0, e) } }
    }

    /// A top-level struct (a page header or the footer).
    mutating func structBody(_ body: (inout ThriftCompactWriter) -> Void) {
        lastField.append(0)
        body(&self)
        bytes.append(0)  // stop
        lastField.removeLast()
    }

    private mutating func listHeader(_ count: Int, _ type: FieldType) {
        if count < 15 {
            bytes.append(UInt8(count) << 4 | type.rawValue)
        } else {
            bytes.append(0xF0 | type.rawValue)
            varint(UInt64(count))
        }
    }
}
