import Foundation
import TestSupport

/// The status timeout(1) reports when it had to kill the command (128 + SIGKILL).
let killedByTimeout: Int32 = 137

/// Runs `kubetrail` under timeout(1), for the attacks whose old outcome was a process blocked on
/// a FIFO or reading /dev/zero forever: such a run is killed and fails its test (with status
/// 137) instead of hanging the suite. The limit only bounds a hang; a passing run is quick.
func kubetrailOrKilled(_ arguments: [String], seconds: Int = 120) throws -> ProcessResult {
    try Subprocess.run(URL(fileURLWithPath: "/usr/bin/timeout"),
                       ["-s", "KILL", String(seconds), Subprocess.productURL("kubetrail").path] + arguments)
}
