import CZstd
import KubetrailCore

/// Compresses each page's bytes with the file's codec, reusing one compression context.
final class PageCompressor {
    let compression: ParquetCompression
    private var zstd: OpaquePointer?
    private var deflater: Deflater?
    private let level: Int32

    init(_ compression: ParquetCompression, level: Int32? = nil) throws {
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

    func compress(_ input: [UInt8]) throws -> [UInt8] {
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
            out.removeSubrange(n...)
            return out
        }
    }
}
