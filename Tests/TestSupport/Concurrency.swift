import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Process {
    /// `run()` from a thread with no signal blocked. A child inherits the signal mask of the
    /// thread that starts it, and the test runner's threads block SIGTERM: a server started from
    /// one could not be stopped by it and outlived its test. The servers tests stop with a
    /// signal start here. Short commands that run to their end (`Subprocess.run`) keep `run()`:
    /// started this way from dispatch workers, the concurrency-cap test's parallel curl requests
    /// stopped overlapping, for a reason not found.
    public func runUnblocked() throws {
        let failure = LockedBox<Error?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var none = sigset_t()
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &none, nil)
            do { try self.run() } catch { failure.value = error }
            done.signal()
        }
        thread.start()
        done.wait()
        if let error = failure.value { throw error }
    }
}

/// One value shared between threads.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Values appended from several threads, read as one array.
public final class LockedArray<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    public init() {}
    public func append(_ item: T) { lock.withLock { items.append(item) } }
    public var values: [T] { lock.withLock { items } }
}
