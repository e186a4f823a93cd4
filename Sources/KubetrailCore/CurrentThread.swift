#if canImport(Glibc)
import Glibc
#endif

/// What a long-running thread says about itself to the system.
public enum CurrentThread {
    /// Names the calling thread where `top -H`, `perf` and `/proc/PID/task/*/comm` show it:
    /// Foundation's `Thread.name` does not reach them on Linux. The kernel keeps 15 bytes.
    public static func name(_ name: String) {
        #if os(Linux)
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #endif
    }

    /// Lowers the calling thread's CPU priority by `nice` steps, so background work takes the
    /// cores only when nothing more urgent wants them. On Linux the nice value is the thread's
    /// own, and `who` 0 is the calling thread.
    public static func yieldCPU(nice: Int32) {
        #if os(Linux)
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        errno = 0
        let current = getpriority(which, 0)
        guard errno == 0 else { return }
        _ = setpriority(which, 0, min(19, current + nice))
        #endif
    }
}
