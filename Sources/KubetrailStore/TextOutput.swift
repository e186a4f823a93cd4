#if canImport(Glibc)
import Glibc
#endif

/// Buffered writes to a file descriptor (stdout by default); large results stream out in
/// 64 KiB chunks instead of one write per cell.
public final class TextOutput {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var collected: [UInt8]?
    private var handler: (([UInt8]) -> Void)?

    /// Hands each filled chunk to `handler` (an HTTP response body, say).
    public init(chunkHandler: @escaping ([UInt8]) -> Void) {
        fd = -1
        handler = chunkHandler
        buffer.reserveCapacity(1 << 16)
    }

    public init(fd: Int32 = 1) {
        self.fd = fd
        buffer.reserveCapacity(1 << 16)
    }

    /// Collects into memory instead of writing (tests, the interactive shell's `.output`).
    public static func memory() -> TextOutput {
        let o = TextOutput(fd: -1)
        o.collected = []
        return o
    }

    public var text: String { String(decoding: (collected ?? []) + buffer, as: UTF8.self) }

    /// Bytes written but not yet flushed.
    public var pending: Int { buffer.count }

    /// Everything written so far, flushed or not.
    public private(set) var totalBytes = 0

    public func write(_ s: String) {
        totalBytes += s.utf8.count
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func write(bytes: UnsafeRawBufferPointer) {
        totalBytes += bytes.count
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func write(byte: UInt8) {
        totalBytes += 1
        buffer.append(byte)
    }

    public func flush() {
        guard !buffer.isEmpty else { return }
        if let handler {
            handler(buffer)
        } else if collected != nil {
            collected!.append(contentsOf: buffer)
        } else {
            buffer.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                    if n <= 0 { if errno == EINTR { continue }; break }
                    off += n
                }
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}
