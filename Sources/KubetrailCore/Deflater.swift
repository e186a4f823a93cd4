import CZlib

/// One-shot zlib (RFC 1950) or gzip compression of a buffer, reusing one stream and one output
/// buffer: a batch a second compressed into a fresh zeroed buffer cost the agent a memset and a
/// page fault per 4 KiB of it.
public final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    /// Where deflate writes; kept between calls, never zeroed, shrunk after an outsized input.
    private var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    public init(level: Int32 = 1, gzip: Bool = false) throws(ZlibError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = czlib_deflate_init2(stream, level, gzip ? 31 : 15)
        guard rc == Z_OK else {
            stream.deallocate()
            throw ZlibError(code: rc, message: "deflateInit2 failed")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        scratch.deallocate()
    }

    public func compress(_ input: UnsafeRawBufferPointer) throws(ZlibError) -> [UInt8] {
        try compress([input])
    }

    public func compress(_ input: [UInt8]) throws -> [UInt8] {
        try input.withUnsafeBytes { try compress($0) }
    }

    /// The parts deflated one after the other as one stream: the same bytes as one buffer
    /// holding them all, without making that buffer.
    public func compress(_ parts: [UnsafeRawBufferPointer]) throws(ZlibError) -> [UInt8] {
        deflateReset(stream)
        let total = parts.reduce(0) { $0 + $1.count }
        reserve(Int(deflateBound(stream, uLong(total))) + 64)
        var produced = 0
        let pieces = parts.isEmpty ? [UnsafeRawBufferPointer(start: nil, count: 0)] : parts
        for (i, part) in pieces.enumerated() {
            let flush = i == pieces.count - 1 ? Z_FINISH : Z_NO_FLUSH
            stream.pointee.next_in = part.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = uInt(part.count)
            while true {
                if produced == scratch.count { grow(keeping: produced) }
                stream.pointee.next_out = (scratch.baseAddress! + produced).assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(scratch.count - produced)
                let rc = CZlib.deflate(stream, flush)
                produced = scratch.count - Int(stream.pointee.avail_out)
                if rc == Z_STREAM_END { break }
                guard rc == Z_OK || rc == Z_BUF_ERROR else { throw ZlibError(code: rc, message: "deflate failed") }
                // All of this part taken and, short of the end, nothing held back for want of room.
                if flush == Z_NO_FLUSH && stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { break }
            }
        }
        // An exact-size copy: the bound-sized buffer would pin ~1.25× the input per batch
        // waiting to be sent.
        return Array(UnsafeRawBufferPointer(rebasing: scratch[..<produced]))
    }

    /// At least `bytes` of scratch; one left by an input four times this size is given back.
    private func reserve(_ bytes: Int) {
        if scratch.count >= bytes && (scratch.count <= 4 * bytes || scratch.count <= 4 << 20) { return }
        scratch.deallocate()
        scratch = .allocate(byteCount: bytes, alignment: 16)
    }

    private func grow(keeping produced: Int) {
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: max(4096, scratch.count * 2), alignment: 16)
        if produced > 0 { bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: scratch[..<produced])) }
        scratch.deallocate()
        scratch = bigger
    }
}
