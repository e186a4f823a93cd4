import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file named by an export manifest, opened for reading only when it is a regular file inside
/// the export directory. Whoever handed over the export wrote the manifest: a name such as
/// `../../etc/shadow` or `/dev/zero`, a symlink, or a FIFO must neither make the verifier read
/// something outside the export nor block it forever.
final class ContainedFile {
    let name: String
    private let fd: Int32

    struct Refusal: Error, CustomStringConvertible {
        var description: String
        /// The file is simply not there (as opposed to refused).
        var missing = false
    }

    /// Why `name` can never be a file of an export, or nil when it can. Checked before any
    /// path is touched, so a hostile name costs no system call.
    static func refusal(of name: String) -> String? {
        if name.isEmpty { return "an empty file name" }
        if name.hasPrefix("/") { return "an absolute path" }
        if name.utf8.contains(0) { return "a name with a NUL byte" }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains("..") { return "a path with '..'" }
        if parts.contains(where: { $0.isEmpty || $0 == "." }) { return "not a plain relative path" }
        return nil
    }

    /// Opens `name` below `directory`. Intermediate symlinks must resolve inside the directory;
    /// the file itself must not be a symlink (O_NOFOLLOW) and must be a regular file. O_NONBLOCK
    /// keeps a FIFO from blocking the open; fstat then refuses it.
    init(directory: String, name: String) throws {
        self.name = name
        if let reason = Self.refusal(of: name) { throw Refusal(description: "\(name) is refused: \(reason)") }
        guard let root = Self.realPath(directory) else {
            let code = errno
            throw Refusal(description: "\(directory): \(String(cString: strerror(code)))", missing: code == ENOENT)
        }
        let slash = name.lastIndex(of: "/")
        let parentName = slash.map { String(name[..<$0]) }
        let base = slash.map { String(name[name.index(after: $0)...]) } ?? name
        var parent = root
        if let parentName {
            guard let resolved = Self.realPath(directory + "/" + parentName) else { throw Refusal(description: "\(name) is missing", missing: true) }
            parent = resolved
        }
        guard parent == root || parent.hasPrefix(root == "/" ? "/" : root + "/") else {
            throw Refusal(description: "\(name) is refused: it resolves outside the export directory (to \(parent)/\(base))")
        }
        let fd = open(parent + "/" + base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw Refusal(description: "\(name) is missing", missing: true)
            case ELOOP: throw Refusal(description: "\(name) is refused: it is a symbolic link")
            default: throw Refusal(description: "\(name): \(String(cString: strerror(code)))")
            }
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw Refusal(description: "\(name) is refused: it is \(Self.kind(st.st_mode)), not a regular file")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Hands the contents to `body` chunk by chunk; stops with an error past `limit` bytes.
    func read(limit: Int = .max, _ body: (UnsafeRawBufferPointer) -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Refusal(description: "cannot read \(name): \(String(cString: strerror(errno)))") }
            if n == 0 { return }
            total += n
            guard total <= limit else { throw Refusal(description: "\(name) is over \(limit) bytes") }
            buffer.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a directory"
        default: return "of an unknown type"
        }
    }
}
