/// A fast hash of bytes, for in-memory tables of values (dictionaries of a column's values):
/// eight bytes at a time, mixed by multiplication, so a URI or a user agent costs a few dozen
/// instructions rather than a multiply per byte. Not for anything an attacker may collide on
/// purpose: the tables using it probe linearly and compare the bytes.
public enum ByteHash {
    public static func of(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(b.count)
        var i = 0
        while i + 8 <= b.count {
            h = (h ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count {
            tail |= UInt64(b[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 29)
    }
}
