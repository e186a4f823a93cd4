import Foundation
import KubetrailParquet

/// Whole zstd frames, each decodable on its own: a stream made of them is one valid zstd body
/// (RFC 8878 §3.1 allows any number of frames), so a page compressed once can be sent to
/// every follower of it, whatever each was sent before.
///
/// Compressors (Parquet's, one zstd context each) are pooled: a context for level 1 is about a
/// megabyte, and only the threads compressing at one moment (a few) need one, not every follower.
final class ZstdFrames: @unchecked Sendable {
    static let shared = ZstdFrames(level: 1)

    let level: Int32
    private let lock = NSLock()
    private var idle: [PageCompressor] = []

    init(level: Int32) { self.level = level }

    /// `bytes` as one frame. Compression of bytes in memory fails only when no context can be
    /// allocated, and then the process is out of memory: that is fatal, as any allocation is.
    func frame(_ bytes: [UInt8]) -> [UInt8] {
        let compressor =
            lock.withLock { idle.popLast() }
            ?? { () -> PageCompressor in
                do { return try PageCompressor(.zstd, level: level) } catch { fatalError("zstd: \(error)") }
            }()
        defer {
            // More than a few idle means a burst has passed: keep the memory bounded.
            lock.withLock { if idle.count < 4 { idle.append(compressor) } }
        }
        do { return try compressor.compress(bytes) } catch { fatalError("zstd: \(error)") }
    }
}
