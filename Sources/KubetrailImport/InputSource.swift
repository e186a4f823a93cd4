import Foundation
import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// The bytes of one import input: standard input, or a file that must be a regular file. A FIFO
/// with no writer, `/dev/zero` or a terminal would block the import or never end, so the file is
/// opened with O_NONBLOCK (the open itself cannot wait for a FIFO's writer) and refused unless
/// fstat says regular: the check is on what was opened, not on a path that may change under it.
final class InputSource: ByteSource {
    let fd: Int32
    let path: String
    private let ownsDescriptor: Bool
    private(set) var bytesConsumed: Int64 = 0
    /// The size at open (nil for standard input).
    let size: Int64?

    init(_ input: InputFiles.Input) throws {
        path = input.path
        if input.isStandardInput {
            fd = 0
            ownsDescriptor = false
            size = nil
            return
        }
        let fd = open(input.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw IOError(path: input.path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw IOError(path: input.path, message: InputFiles.notRegular(st.st_mode))
        }
        // Reads of a regular file never return EAGAIN, but clear the flag all the same so the
        // descriptor behaves as an ordinary one.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        self.fd = fd
        ownsDescriptor = true
        size = Int64(st.st_size)
    }

    deinit { if ownsDescriptor { close(fd) } }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { bytesConsumed += Int64(n); return n }
            if errno == EINTR { continue }
            throw IOError(path: path, errno: errno)
        }
    }
}
