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
    /// and the thread that started it keeps its own class.
    @Test func runWhenIdleIsTheCallingThreadsOwn() async throws {
        let before = sched_getscheduler(0)
        let policy = await withCheckedContinuation { (done: CheckedContinuation<Int32, Never>) in
            Thread {
                CurrentThread.runWhenIdle()
                done.resume(returning: sched_getscheduler(0))
            }.start()
        }
        #expect(policy == 5)
        #expect(sched_getscheduler(0) == before && before != 5)
    }
}
