import CZstd
import Foundation

/// Whole zstd frames, each decodable on its own: a stream made of them is one valid zstd body
/// (RFC 8878 §3.1 allows any number of frames), so a page compressed once can be sent to
/// every follower of it, whatever each was sent before.
///
/// Contexts are pooled: a context for level 1 is about a megabyte, and only the threads
/// compressing at one moment (a few) need one, not every follower.
final class ZstdFrames: @unchecked Sendable {
    static let shared = ZstdFrames(level: 1)

    let level: Int32
    private let lock = NSLock()
    private var idle: [OpaquePointer] = []

    init(level: Int32) { self.level = level }

    deinit { for context in idle { ZSTD_freeCCtx(context) } }

    /// `bytes` as one frame. Compression of bytes in memory fails only when no context can be
    /// allocated, and then the process is out of memory: that is fatal, as any allocation is.
    func frame(_ bytes: [UInt8]) -> [UInt8] {
        let context = take()
        defer { give(context) }
        let bound = ZSTD_compressBound(bytes.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in ZSTD_compressCCtx(context, dst.baseAddress, bound, src.baseAddress, src.count, level) }
        }
        precondition(ZSTD_isError(n) == 0, "zstd: \(String(cString: ZSTD_getErrorName(n)))")
        // A copy of the frame alone: the bound's capacity (about the plain size) would stay
        // with a frame kept for a shared page.
        return Array(out[..<n])
    }

    private func take() -> OpaquePointer {
        if let context = lock.withLock({ idle.popLast() }) { return context }
        guard let context = ZSTD_createCCtx() else { fatalError("zstd: cannot allocate a compression context") }
        return context
    }

    private func give(_ context: OpaquePointer) {
        lock.withLock {
            // More than a few idle means a burst has passed: keep the memory bounded.
            if idle.count < 4 { idle.append(context) } else { ZSTD_freeCCtx(context) }
        }
    }
}
