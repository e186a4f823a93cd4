#if canImport(Glibc)
import Glibc
#endif

/// A plain OS thread: the agent's work is blocking I/O (read, poll, libcurl), so it runs on a
/// few dedicated threads rather than on a concurrency runtime.
enum AgentThread {
    private final class Body { let run: () -> Void; init(_ run: @escaping () -> Void) { self.run = run } }

    static func spawn(_ body: @escaping () -> Void) -> pthread_t {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return thread
    }
}

/// A mutex with a condition variable, for the few places threads hand work to each other.
/// Both live in memory of their own: `&property` on a Swift stored property may hand C a
/// temporary copy, and a copied mutex excludes nothing.
final class Monitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        condition.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits (with the lock held by the caller inside `locked`) until signalled or `seconds` pass.
    func wait(seconds: Double) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + max(0, seconds)
        var deadline = timespec(tv_sec: Int(total), tv_nsec: Int((total - total.rounded(.down)) * 1e9))
        pthread_cond_timedwait(condition, mutex, &deadline)
    }

    func broadcast() { pthread_cond_broadcast(condition) }
}

/// Seconds on the monotonic clock (intervals, deadlines, backoff: immune to clock steps).
func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// A non-blocking pipe: how the shipper wakes the tailer's poll when acknowledgements arrive.
final class WakeSignal: @unchecked Sendable {
    let fd: Int32
    private let writeEnd: Int32

    init() throws {
        (fd, writeEnd) = try makePipe()
    }

    deinit {
        close(fd)
        close(writeEnd)
    }

    func wake() {
        var one: UInt8 = 1
        _ = Glibc.write(writeEnd, &one, 1)  // a full pipe already means "wake up"
    }

    func clear() {
        var drain = [UInt8](repeating: 0, count: 256)
        while drain.withUnsafeMutableBytes({ Glibc.read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}

/// pipe(2) with both ends non-blocking and close-on-exec (pipe2 is not imported).
func makePipe() throws -> (read: Int32, write: Int32) {
    var ends: [Int32] = [0, 0]
    guard pipe(&ends) == 0 else { throw AgentIOError(operation: "pipe", errno: errno) }
    for fd in ends {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return (ends[0], ends[1])
}
