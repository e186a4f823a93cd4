#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Something bytes are read from in chunks: a file, stdin, or a decompressor over either.
public protocol ByteSource: AnyObject {
    /// Fills up to `buffer.count` bytes; 0 means end of input.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Bytes consumed from the underlying file so far (compressed bytes for gzip), for progress.
    var bytesConsumed: Int64 { get }
}

public struct IOError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public init(path: String, message: String) { self.path = path; self.message = message }
    public init(path: String, errno code: Int32) {
        self.path = path
        self.message = String(cString: strerror(code))
    }
    public var description: String { "\(path): \(message)" }
}

/// Reads a file descriptor with read(2); retries EINTR.
public final class FileDescriptorSource: ByteSource {
    public let fd: Int32
    public let path: String
    private let ownsDescriptor: Bool
    public private(set) var bytesConsumed: Int64 = 0

    public init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError(path: path, errno: errno) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw IOError(path: path, message: "is a directory")
        }
        self.fd = fd
        self.path = path
        self.ownsDescriptor = true
    }

    public init(standardInput: Void = ()) {
        fd = 0
        path = "-"
        ownsDescriptor = false
    }

    deinit { if ownsDescriptor { close(fd) } }

    /// The file's size when it is a regular file (nil for pipes and terminals).
    public var size: Int64? {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { bytesConsumed += Int64(n); return n }
            if errno == EINTR { continue }
            throw IOError(path: path, errno: errno)
        }
    }
}

/// Decompresses gzip (or zlib) data from another source, including concatenated gzip members.
/// Each read inflates at most about one caller buffer, so a bomb cannot balloon memory.
public final class GzipSource: ByteSource {
    private let upstream: ByteSource
    private let inflater: Inflater
    private var input: [UInt8] = Array(repeating: 0, count: 256 * 1024)
    private var inputStart = 0
    private var inputEnd = 0
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var upstreamDone = false
    private var sawInput = false
    private let path: String

    public init(_ upstream: ByteSource, path: String) throws {
        self.upstream = upstream
        self.path = path
        inflater = try Inflater(format: .auto)
    }

    public var bytesConsumed: Int64 { upstream.bytesConsumed }

    /// Reads more compressed bytes; false at the end of the upstream.
    private func refill() throws -> Bool {
        let n = try input.withUnsafeMutableBytes { try upstream.read(into: $0) }
        inputStart = 0
        inputEnd = n
        if n == 0 { upstreamDone = true } else { sawInput = true }
        return n > 0
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        do {
            while pendingStart >= pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingStart = 0
                if inflater.finished {
                    // A complete member: done at end of input, else another member follows.
                    if inputStart >= inputEnd, try !refill() { return 0 }
                    try inflater.reset()
                }
                if inputStart >= inputEnd, !upstreamDone { _ = try refill() }
                let used = try input.withUnsafeBytes { raw in
                    try inflater.inflate(UnsafeRawBufferPointer(rebasing: raw[inputStart..<inputEnd]), budget: buffer.count) {
                        pending.append(contentsOf: $0)
                    }
                }
                inputStart += used
                if used == 0, pending.isEmpty, inputStart < inputEnd, !inflater.finished {
                    throw IOError(path: path, message: "gzip: the decompressor made no progress")
                }
                if pending.isEmpty, inputStart >= inputEnd, upstreamDone, !inflater.finished {
                    if !sawInput { return 0 }
                    throw IOError(path: path, message: "truncated gzip data")
                }
            }
        } catch let error as ZlibError {
            throw IOError(path: path, message: "gzip: \(error.message)")
        }
        let n = min(buffer.count, pending.count - pendingStart)
        pending.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + pendingStart, byteCount: n)
        }
        pendingStart += n
        return n
    }
}
