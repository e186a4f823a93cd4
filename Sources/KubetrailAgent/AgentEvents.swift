import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// What the tailer loop tells its operator: each event counted in `/metrics` and said in the
/// log in one call here, so a counter and its log line cannot drift apart and the loop reads as
/// what it does. The shipper's thread has its own (`Shipper`).
final class AgentEvents {
    let metrics: AgentMetrics
    private var lastCheckpointError = -1e9

    init(metrics: AgentMetrics) { self.metrics = metrics }

    // MARK: Life

    func started(node: String, aggregator: String, files: Int, checkpoints: Int, problems: [String]) {
        for problem in problems { AgentLog.warning("checkpoints: " + problem) }
        AgentLog.info("agent started", ["node": node, "aggregator": aggregator, "files": String(files), "checkpoints": String(checkpoints)])
    }

    func metricsListening(address: String, port: Int) { AgentLog.info("metrics listening", ["address": address, "port": String(port)]) }

    func stopping(signal: Int32) { AgentLog.info("stopping", ["signal": String(signal)]) }

    func stopped(unacknowledgedBatches unsent: Int) {
        AgentLog.info(
            "stopped",
            [
                "unacknowledged_batches": String(unsent),
                "note": unsent == 0 ? "everything read was acknowledged" : "the rest is read again at the next start"
            ])
    }

    /// A full or read-only state disk: shipping goes on (the aggregator dedups a re-send); said
    /// about once a minute, counted every time.
    func checkpointsNotSaved(_ error: Error) {
        metrics.add(.checkpointErrors)
        guard monotonicSeconds() - lastCheckpointError > 60 else { return }
        lastCheckpointError = monotonicSeconds()
        AgentLog.error("cannot save checkpoints; data keeps flowing, a restart would re-send", ["error": "\(error)"])
    }

    struct Snapshot {
        var unackedBytes: UInt64
        var openFiles: Int
        var heldDeletedFiles: Int
        var spoolBytes: UInt64
        var queuedBatches: Int
        var files: [AgentMetrics.FileState]
    }

    func publish(_ s: Snapshot) {
        metrics.set(.unackedBytes, Int64(s.unackedBytes))
        metrics.set(.openFiles, Int64(s.openFiles))
        metrics.set(.heldDeletedFiles, Int64(s.heldDeletedFiles))
        metrics.set(.spoolBytes, Int64(s.spoolBytes))
        metrics.set(.queuedBatches, Int64(s.queuedBatches))
        metrics.publish(files: s.files)
    }

    // MARK: Discovery

    func inotifyReadFailed(_ error: Error) { AgentLog.error("inotify read failed; relying on rescans", ["error": "\(error)"]) }

    func inotifyOverflowed() {
        metrics.add(.inotifyOverflows)
        AgentLog.warning("inotify queue overflowed; rescanning every watched directory")
    }

    func directoryNotWatched(_ path: String, _ error: Error) {
        AgentLog.warning("cannot watch directory; it is rescanned instead", ["path": path, "error": "\(error)"])
    }

    func fileNotWatched(_ path: String, _ error: Error) {
        AgentLog.warning("cannot watch file; it is polled at each rescan", ["path": path, "error": "\(error)"])
    }

    func linkOutsidePods(link: String, target: String, podsDirectory: String) {
        metrics.add(.linksOutsidePods)
        AgentLog.warning("container log link points outside the pods directory; not followed", ["link": link, "target": target, "pods_dir": podsDirectory])
    }

    func notRegularFile(_ path: String, mode: mode_t) {
        metrics.add(.notRegularFiles)
        AgentLog.warning(
            "log path turned into something other than a regular file after it was checked; not read", ["path": path, "type": LogFileOpener.typeName(mode)])
    }

    func openFailed(_ path: String, errno code: Int32) {
        AgentLog.warning("cannot open log file; retried at the next rescan", ["path": path, "error": String(cString: strerror(code))])
    }

    func opened() { metrics.add(.filesOpened) }

    func rotated() { metrics.add(.rotations) }

    // MARK: Truncation

    func changedSinceCheckpoint(_ path: String) {
        metrics.add(.truncations)
        AgentLog.warning("file changed since its checkpoint (truncated or replaced); reading it from the start", ["path": path])
    }

    /// A file cut back under the agent; `copy` is logrotate's copy its unread rest is read from.
    func truncated(_ path: String, reason: String, readBefore: UInt64, copy: (path: String, restBytes: UInt64)?, writtenAfterRead: Bool) {
        metrics.add(.truncations)
        if let copy {
            AgentLog.info(
                "file truncated (copytruncate); the rest of its old content is read from the copy, the file again from its start",
                ["path": path, "reason": reason, "read_before": String(readBefore), "rest_read_from": copy.path, "rest_bytes": String(copy.restBytes)])
        } else {
            AgentLog.warning(
                "file truncated and no copy of it found; reading it again from the start",
                [
                    "path": path, "reason": reason, "read_before": String(readBefore),
                    "lost": writtenAfterRead ? "whatever was written after the last read" : "unknown"
                ])
        }
    }

    func followingCopy(of original: String, copy: String, from: UInt64, to: UInt64) {
        metrics.add(.filesOpened)
        metrics.add(.copiesFollowed)
        AgentLog.info("reading a copy-truncated file's remaining lines from its copy", ["path": original, "copy": copy, "from": String(from), "to": String(to)])
    }

    // MARK: Reading

    func readPaused(_ paused: Bool) { metrics.set(.readPaused, paused ? 1 : 0) }

    func readFailed(_ path: String, errno code: Int32) { AgentLog.warning("read failed", ["path": path, "error": String(cString: strerror(code))]) }

    func read(bytes: Int) { metrics.add(.bytesRead, UInt64(bytes)) }

    func linesCut(_ path: String, cap: Int, count: UInt64) {
        metrics.add(.truncatedLines, count)
        AgentLog.warning("line longer than the cap; its first bytes are sent and flagged truncated", ["path": path, "cap": String(cap), "count": String(count)])
    }

    func openGroupFlushed() { metrics.add(.flushedOpenGroups) }

    // MARK: Closing and the spool

    func unfinishedLineDropped(_ path: String, bytes: UInt64) {
        AgentLog.warning("closing a rotated file whose last line never ended; those bytes are not sent", ["path": path, "bytes": String(bytes)])
    }

    func closed() { metrics.add(.filesClosed) }

    func spoolFull(_ path: String, bytes: UInt64, limit: UInt64, atShutdown: Bool) {
        if atShutdown {
            metrics.add(.lostBytes, bytes)
            AgentLog.error("spool is full: bytes of a deleted file are lost at shutdown", ["path": path, "bytes": String(bytes), "spool_limit": String(limit)])
        } else {
            AgentLog.warning("spool is full; holding the deleted file open instead", ["path": path])
        }
    }

    func spooled(_ path: String, bytes: UInt64) {
        metrics.add(.spooledFiles)
        AgentLog.info("spooled the unacknowledged bytes of a deleted file", ["path": path, "bytes": String(bytes)])
    }

    func spoolFailed(_ path: String, _ error: Error, lost: UInt64?) {
        if let lost { metrics.add(.lostBytes, lost) }
        AgentLog.error("cannot spool a deleted file", ["path": path, "error": "\(error)"])
    }

    func spoolDamaged(_ path: String) { AgentLog.error("damaged spool file left in place; its bytes are not sent", ["path": path]) }

    func spoolResumed(_ path: String, bytes: UInt64) { AgentLog.info("resuming a spooled file", ["path": path, "bytes": String(bytes)]) }

    func spoolUnreadable(_ path: String, _ error: Error) { AgentLog.error("cannot open spool file", ["path": path, "error": "\(error)"]) }
}
