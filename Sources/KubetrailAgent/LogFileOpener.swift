#if canImport(Glibc)
import Glibc
#endif

/// Opens a log file that a directory scan stat'ed, for reading on the tailer's thread.
///
/// Between the stat and the open, the name can be swapped for something else. A FIFO there would
/// block open(2) until a writer shows up, and the one thread that tails every file would hang; a
/// device would stream forever. So the open never blocks (O_NONBLOCK), and what was opened is
/// checked through its descriptor: it must be a regular file, and the very one that was stat'ed.
enum LogFileOpener {
    enum Outcome: Equatable {
        case opened(Int32)
        /// The name now holds something that is not a regular file (the file type bits).
        case notRegular(mode: UInt32)
        /// The name now holds another regular file: the scan that sees it comes next.
        case replaced
        case failed(errno: Int32)
    }

    /// `followLinks: false` refuses a symlink at `path` itself (O_NOFOLLOW).
    static func open(_ path: String, expected: DeviceInode, followLinks: Bool) -> Outcome {
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followLinks ? 0 : O_NOFOLLOW)
        let fd = Glibc.open(path, flags)
        guard fd >= 0 else { return .failed(errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            return .failed(errno: e)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return .notRegular(mode: UInt32(st.st_mode & S_IFMT))
        }
        guard UInt64(st.st_dev) == expected.device, UInt64(st.st_ino) == expected.inode else {
            close(fd)
            return .replaced
        }
        // Reads of a regular file never wait anyway; clearing the flag keeps later reads plain
        // on file systems that would answer EAGAIN to a non-blocking read.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return .opened(fd)
    }

    static func typeName(_ mode: UInt32) -> String {
        switch mode {
        case UInt32(S_IFIFO): return "fifo"
        case UInt32(S_IFCHR): return "character device"
        case UInt32(S_IFBLK): return "block device"
        case UInt32(S_IFSOCK): return "socket"
        case UInt32(S_IFDIR): return "directory"
        case UInt32(S_IFLNK): return "symlink"
        default: return "mode \(String(mode, radix: 8))"
        }
    }
}
