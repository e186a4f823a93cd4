import CZstd
import KubetrailCore

/// Compresses each page's bytes with the file's codec, reusing one compression context. Each
/// zstd result is a whole frame (the aggregator's follows send such frames, one per page).
public final class PageCompressor {
    public let compression: ParquetCompression
    private var zstd: OpaquePointer?
    private var deflater: Deflater?
    private let level: Int32

    public init(_ compression: ParquetCompression, level: Int32? = nil) throws {
        self.compression = compression
        switch compression {
        case .zstd:
            self.level = level ?? 1
            zstd = ZSTD_createCCtx()
            guard zstd != nil else { throw ParquetError("cannot create a zstd context") }
        case .gzip:
            self.level = level ?? 6
            deflater = try Deflater(level: self.level, gzip: true)
        case .none:
            self.level = 0
        }
    }

    deinit { if let zstd { ZSTD_freeCCtx(zstd) } }

    public func compress(_ input: [UInt8]) throws -> [UInt8] {
        switch compression {
        case .none:
            return input
        case .gzip:
            return try deflater!.compress(input)
        case .zstd:
            let bound = ZSTD_compressBound(input.count)
            var out = [UInt8](repeating: 0, count: bound)
            let n = input.withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    ZSTD_compressCCtx(zstd, dst.baseAddress, bound, src.baseAddress, src.count, level)
                }
            }
            guard ZSTD_isError(n) == 0 else { throw ParquetError("zstd: \(String(cString: ZSTD_getErrorName(n)))") }
            // The frame alone, not the bound's capacity: a frame may be kept a while.
            return Array(out[..<n])
        }
    }
}
