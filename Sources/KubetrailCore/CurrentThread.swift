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

    /// Puts the calling thread in Linux's idle scheduling class (`SCHED_IDLE`): it runs on what
    /// the other threads leave. A nice value is not enough for work done by many threads at
    /// once: fifty at nice 10 weigh five times one at nice 0, and took the commit thread's core
    /// after every commit. Where the class cannot be set, nice 19 is the fallback.
    public static func runWhenIdle() {
        #if os(Linux)
        var parameter = sched_param()
        parameter.sched_priority = 0
        // SCHED_IDLE is 5 in <sched.h>; Glibc's module does not export it to Swift.
        if sched_setscheduler(0, 5, &parameter) != 0 { yieldCPU(nice: 19) }
        #endif
    }
}
