import CZlib

/// One-shot zlib (RFC 1950) or gzip compression of a buffer, reusing one stream.
public final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>

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
    }

    public func compress(_ input: UnsafeRawBufferPointer) throws(ZlibError) -> [UInt8] {
        deflateReset(stream)
        let bound = Int(deflateBound(stream, uLong(input.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let rc: Int32 = out.withUnsafeMutableBytes { dst in
            stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = uInt(input.count)
            stream.pointee.next_out = dst.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(bound)
            return CZlib.deflate(stream, Z_FINISH)
        }
        guard rc == Z_STREAM_END else { throw ZlibError(code: rc, message: "deflate did not finish") }
        // An exact-size copy: the deflateBound-sized buffer would pin ~1.25× the input per
        // batch waiting to be sent.
        return Array(out[..<(bound - Int(stream.pointee.avail_out))])
    }

    public func compress(_ input: [UInt8]) throws -> [UInt8] {
        try input.withUnsafeBytes { try compress($0) }
    }
}
