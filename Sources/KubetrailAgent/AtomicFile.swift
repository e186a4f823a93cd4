#if canImport(Glibc)
import Glibc
#endif

/// Replaces a file so that a crash leaves either the old or the new contents, never a mix:
/// write a temp file beside it, fsync it, rename it over, fsync the directory.
enum AtomicFile {
    static func write(_ bytes: [UInt8], to path: String) throws {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AgentIOError(operation: "create", path: temp, errno: errno) }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(temp) }
        }
        try writeAll(fd, bytes, path: temp)
        guard fsync(fd) == 0 else { throw AgentIOError(operation: "fsync", path: temp, errno: errno) }
        guard rename(temp, path) == 0 else { throw AgentIOError(operation: "rename", path: path, errno: errno) }
        ok = true
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            defer { close(dfd) }
            guard fsync(dfd) == 0 else { throw AgentIOError(operation: "fsync", path: dir, errno: errno) }
        }
    }
}

/// write(2) until every byte is written (short writes and EINTR are not errors).
func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
        if n < 0 {
            if errno == EINTR { continue }
            throw AgentIOError(operation: "write", path: path, errno: errno)
        }
        written += n
    }
}
