import Foundation
import TestSupport

/// The status timeout(1) exits with when the command ran out of time (and got SIGTERM, which
/// ends a read of /dev/zero or an open of a FIFO as well: both wait interruptibly).
let stoppedByTimeout: Int32 = 124

/// Runs `kubetrail` under timeout(1), for the attacks whose old outcome was a process blocked on
/// a FIFO or reading /dev/zero forever: such a run is stopped and fails its test (with status
/// 124) instead of hanging the suite. The limit only bounds a hang; a passing run is quick.
/// (Not SIGKILL: timeout(1) sends its signal to its own process group too, and would report
/// its own death, 9, instead of 124.)
func kubetrailOrKilled(_ arguments: [String], seconds: Int = 120) throws -> ProcessResult {
    try Subprocess.run(URL(fileURLWithPath: "/usr/bin/timeout"), [String(seconds), Subprocess.productURL("kubetrail").path] + arguments)
}
