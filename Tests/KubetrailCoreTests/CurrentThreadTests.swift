import Foundation
import Testing
@testable import KubetrailCore

/// A thread's name and priority reach the kernel, where `top -H` and the scheduler see them,
/// and are that thread's alone.
@Suite struct CurrentThreadTests {
    static func nice() -> Int32 { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
    static func comm() -> String { (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "" }

    @Test func nameAndPriorityAreTheCallingThreadsOwn() async throws {
        let base = Self.nice()
        let seen = await withCheckedContinuation { (done: CheckedContinuation<(comm: String, nice: Int32), Never>) in
            Thread {
                CurrentThread.name("kubetrail-test-thread-long")
                CurrentThread.yieldCPU(nice: 5)
                done.resume(returning: (Self.comm(), Self.nice()))
            }.start()
        }
        #expect(seen.comm == "kubetrail-test-\n")  // 15 bytes: the kernel's limit
        #expect(seen.nice == min(19, base + 5))
        #expect(Self.nice() == base)
        #expect(Self.comm() != seen.comm)
    }

    /// The idle class is the thread's own: `sched_getscheduler` of the thread says 5 (SCHED_IDLE),
    /// or, where the class cannot be set, its nice value is 19; the thread that started it keeps
    /// its own. The result comes back through a semaphore, not by resuming a task from the idle
    /// thread (which could leave an idle worker in the test process's thread pool).
    @Test func runWhenIdleIsTheCallingThreadsOwn() throws {
        let before = (policy: sched_getscheduler(0), nice: Self.nice())
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var seen = (policy: Int32(-1), nice: Int32(0))
        Thread {
            CurrentThread.runWhenIdle()
            seen = (sched_getscheduler(0), Self.nice())
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 600) == .success)
        #expect(seen.policy == 5 || seen.nice == 19, "\(seen)")
        #expect(sched_getscheduler(0) == before.policy && before.policy != 5 && Self.nice() == before.nice)
    }
}
