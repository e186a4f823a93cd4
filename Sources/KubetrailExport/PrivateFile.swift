import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Exports, manifests and reports hold audit rows: who did what, with request bodies. They are
/// created readable by their owner only, with the mode set explicitly: a umask of 022 (the
/// usual one) would otherwise leave them readable by every local user.
public enum PrivateFile {
    public static let fileMode: mode_t = 0o600
    public static let directoryMode: mode_t = 0o700

    /// Creates a new file for writing (never an existing one, never through a symlink).
    static func create(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw ExportError("cannot create \(path): \(String(cString: strerror(errno)))") }
        // The umask can only take bits away; fchmod makes the mode exactly 0600 even under an
        // unusual one such as 0277, which would leave the owner unable to read the export.
        fchmod(fd, fileMode)
        return fd
    }

    /// Creates `path` and any missing parents; those it creates are 0700. Existing directories
    /// keep their mode: they are the user's.
    static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, directoryMode) == 0 {
                chmod(prefix, directoryMode)
                continue
            }
            let code = errno
            var st = stat()
            guard code == EEXIST, stat(prefix, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw ExportError("cannot create the directory \(prefix): \(String(cString: strerror(code == EEXIST ? ENOTDIR : code)))")
            }
        }
    }

    /// Writes all of `bytes` to `fd`.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ExportError("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Replaces `path` with `data` atomically: a new 0600 file beside it, synced, renamed over it.
    /// A reader never sees half a file, and an existing file's looser mode is not inherited.
    public static func write(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = try create(temporary)
        let written = Result {
            try data.withUnsafeBytes { try write(fd, $0, path: temporary) }
            guard fsync(fd) == 0 else { throw ExportError("cannot sync \(temporary): \(String(cString: strerror(errno)))") }
        }
        close(fd)
        do {
            try written.get()
            guard rename(temporary, path) == 0 else { throw ExportError("cannot write \(path): \(String(cString: strerror(errno)))") }
        } catch {
            unlink(temporary)
            throw error
        }
    }
}
