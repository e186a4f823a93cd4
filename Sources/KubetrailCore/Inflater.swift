import CZlib

/// Streaming zlib/gzip decompression with an output ceiling.
///
/// The ceiling is what turns a decompression bomb into a clear error instead of exhausted
/// memory; `windowBits` 15+32 accepts both zlib (RFC 1950) and gzip framing.
public final class Inflater {
    public enum Format: Sendable { case zlib, gzip, auto }

    private let stream: UnsafeMutablePointer<z_stream>
    private let windowBits: Int32
    public private(set) var totalOut = 0
    public private(set) var finished = false

    public init(format: Format = .auto) throws(ZlibError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        switch format {
        case .zlib: windowBits = 15
        case .gzip: windowBits = 15 + 16
        case .auto: windowBits = 15 + 32
        }
        let rc = czlib_inflate_init2(stream, windowBits)
        guard rc == Z_OK else {
            stream.deallocate()
            throw ZlibError(code: rc, message: "inflateInit2 failed")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Inflates `input`, calling `output` with each produced chunk. Returns bytes of `input`
    /// consumed: less than all when the stream ended inside it, or when this call produced
    /// `budget` bytes (call again with the rest — and with empty input to drain what zlib holds).
    /// `limit` caps the total over the stream's life: the decompression-bomb guard.
    @discardableResult
    public func inflate(
        _ input: UnsafeRawBufferPointer, limit: Int = .max, budget: Int = .max,
        output: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> Int {
        guard !finished else { return 0 }
        let chunk = 64 * 1024
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 1)
        defer { out.deallocate() }
        stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = uInt(input.count)
        var producedHere = 0
        while true {
            stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(chunk)
            let rc = CZlib.inflate(stream, Z_NO_FLUSH)
            let produced = chunk - Int(stream.pointee.avail_out)
            if produced > 0 {
                totalOut += produced
                producedHere += produced
                if totalOut > limit { throw ZlibError.outputLimit(limit) }
                try output(UnsafeRawBufferPointer(rebasing: out[0..<produced]))
            }
            if producedHere >= budget, rc == Z_OK { return input.count - Int(stream.pointee.avail_in) }
            switch rc {
            case Z_STREAM_END:
                finished = true
                return input.count - Int(stream.pointee.avail_in)
            case Z_OK:
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { return input.count }
            case Z_BUF_ERROR:
                return input.count - Int(stream.pointee.avail_in)
            default:
                let msg = stream.pointee.msg.map { String(cString: $0) } ?? "inflate error"
                throw ZlibError(code: rc, message: msg)
            }
        }
    }

    /// Starts a new member (gzip files may hold several concatenated members).
    public func reset() throws(ZlibError) {
        let rc = inflateReset(stream)
        guard rc == Z_OK else { throw ZlibError(code: rc, message: "inflateReset failed") }
        finished = false
    }

    /// Inflates a whole buffer in one go.
    public static func inflate(_ data: [UInt8], format: Format = .auto, limit: Int = .max) throws -> [UInt8] {
        let inflater = try Inflater(format: format)
        var out: [UInt8] = []
        try data.withUnsafeBytes { raw in
            _ = try inflater.inflate(raw, limit: limit) { out.append(contentsOf: $0) }
        }
        guard inflater.finished else { throw ZlibError(code: Z_DATA_ERROR, message: "truncated compressed data") }
        return out
    }
}

public struct ZlibError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String

    public static func outputLimit(_ limit: Int) -> ZlibError {
        ZlibError(code: -100, message: "inflated data exceeds \(limit) bytes")
    }

    public var isOutputLimit: Bool { code == -100 }
    public var description: String { "zlib: \(message)" }
}
