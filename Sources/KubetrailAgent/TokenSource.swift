#if canImport(Glibc)
import Glibc
#endif
import KubetrailCore

/// The bearer token, read from a file and read again whenever the file changes (a rotated
/// Kubernetes Secret is a new file behind a symlink), so tokens rotate without a restart.
final class TokenSource {
    let path: String?
    private var token: String?
    private var seen: (ino: UInt64, size: Int64, mtime: Int, mtimeNanos: Int)?

    init(path: String?) { self.path = path }

    /// The current token; nil when no token file is configured. Throws when the file is
    /// configured but unreadable or empty (the shipper retries: the Secret may be mounted later).
    func current() throws -> String? {
        guard let path else { return nil }
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw AgentIOError(operation: "read token file", path: path, errno: errno)
        }
        let now = (UInt64(st.st_ino), Int64(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec)
        if let token, let s = seen, s == now { return token }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AgentIOError(operation: "read token file", path: path, errno: errno) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 8192)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw AgentIOError(operation: "read token file (empty)", path: path, errno: ENODATA) }
        guard let line = TokenLines.first(String(decoding: bytes[0..<n], as: UTF8.self)) else {
            throw AgentIOError(operation: "read token file (no token in it)", path: path, errno: ENODATA)
        }
        token = line
        seen = now
        return line
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
