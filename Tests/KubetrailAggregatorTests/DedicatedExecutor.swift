import Dispatch

/// Runs a test's tasks on a thread of their own. The suite's synchronous tests (processes,
/// sockets, sleeps) occupy Swift's cooperative threads, which are as many as the cores (two
/// here); a test that measures how an async reader and a producer thread hand over (stalls,
/// keep-alives) must not wait a minute for a free one.
final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "kubetrail-test-executor")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Runs `body` with every task it starts (and their children) preferring this executor.
    static func run<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        try await withTaskExecutorPreference(DedicatedExecutor(), operation: body)
    }
}
