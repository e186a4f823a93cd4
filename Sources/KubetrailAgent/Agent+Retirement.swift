import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

extension Agent {
    var heldDeletedCount: Int { files.filter { $0.deleted && $0.fd >= 0 }.count }
    var spoolBytes: UInt64 { files.reduce(0) { $0 + ($1.spool?.bytes ?? 0) } }

    /// Closes rotated and deleted files that are read to the end and fully acknowledged —
    /// rotated ones only after they stayed idle a while and a newer file exists beside them,
    /// because the runtime keeps appending to a renamed file until it reopens.
    func retireFinishedFiles() {
        guard files.contains(where: { $0.rotated || $0.deleted }) else { return }
        let now = monotonicSeconds()
        var closed: [TailedFile] = []
        for f in files where (f.rotated || f.deleted) && f.isOpen {
            f.refreshSize()
            flushStaleGroup(f)
            guard f.isDrained || (f.framer.position >= f.size && f.acked >= f.framer.committed) else { continue }
            let idle = now - f.lastChange
            guard idle >= config.rotatedIdle else { continue }
            if f.framer.pendingBytes > 0 && idle < 300 { continue }  // an unterminated last line may still be finished
            if !f.deleted {
                let dir = f.directory
                guard files.contains(where: { $0 !== f && !$0.rotated && !$0.deleted && $0.directory == dir }) else { continue }
            }
            if f.framer.pendingBytes > 0 {
                AgentLog.warning(
                    "closing a rotated file whose last line never ended; those bytes are not sent",
                    ["path": f.path, "bytes": String(f.framer.pendingBytes)])
            }
            closed.append(f)
        }
        for f in closed { retire(f) }
    }

    func retire(_ f: TailedFile) {
        if let w = f.watch { inotify.remove(w); byWatch[w] = nil }
        if !f.deleted && f.spool == nil { retired[f.deviceInode] = f.size }
        f.spool?.remove()
        f.close()
        files.removeAll { $0 === f }
        if byInode[f.deviceInode] === f { byInode[f.deviceInode] = nil }
        if let key = f.identity, byKey[key] === f { byKey[key] = nil }
        metrics.add(.filesClosed)
    }

    /// Deleted files still owing bytes: beyond the cap on held descriptors (or at shutdown,
    /// `all`), their unacknowledged bytes go to the spool and the descriptor is let go of.
    func spoolDeletedFiles(all: Bool) {
        var held = files.filter { $0.deleted && $0.fd >= 0 && $0.spool == nil }
        guard all || held.count > config.maxHeldDeletedFiles else { return }
        held.sort { $0.firstSeen < $1.firstSeen }
        let count = all ? held.count : held.count - config.maxHeldDeletedFiles
        for f in held.prefix(count) {
            f.refreshSize()
            guard let key = f.identity, f.size > f.acked else {
                if all || f.isDrained { retire(f) }
                continue
            }
            let need = f.size - f.acked
            guard spoolBytes + need <= config.maxSpoolBytes else {
                if all {
                    metrics.add(.lostBytes, need)
                    AgentLog.error(
                        "spool is full: bytes of a deleted file are lost at shutdown",
                        ["path": f.path, "bytes": String(need), "spool_limit": String(config.maxSpoolBytes)])
                } else {
                    AgentLog.warning("spool is full; holding the deleted file open instead", ["path": f.path])
                }
                continue
            }
            do {
                let spool = try SpoolFile.create(from: f, key: key, base: f.acked, directory: spoolDirectory)
                if let w = f.watch { inotify.remove(w); byWatch[w] = nil; f.watch = nil }
                byInode[f.deviceInode] = nil
                f.moveToSpool(spool)
                metrics.add(.spooledFiles)
                AgentLog.info("spooled the unacknowledged bytes of a deleted file", ["path": f.path, "bytes": String(need)])
            } catch {
                if all { metrics.add(.lostBytes, need) }
                AgentLog.error("cannot spool a deleted file", ["path": f.path, "error": "\(error)"])
            }
        }
    }

    /// Spool files left by an earlier run become sources again, from their checkpoint on.
    func loadSpool() {
        for name in listDirectory(spoolDirectory) where name.hasSuffix(".spool") {
            let path = spoolDirectory + "/" + name
            do {
                guard let spool = try SpoolFile.open(path) else {
                    AgentLog.error("damaged spool file left in place; its bytes are not sent", ["path": path])
                    continue
                }
                let resume = checkpoints.entry(forKey: spool.key)?.offset ?? spool.base
                if resume >= spool.end {
                    spool.remove()
                    continue
                }
                let maxRecord = spool.kind == .auditLine ? config.maxAuditLineBytes : config.maxContainerLineBytes
                let f = TailedFile(spool: spool, maxRecordBytes: maxRecord, resumeAt: resume)
                files.append(f)
                byKey[spool.key] = f
                AgentLog.info("resuming a spooled file", ["path": f.path, "bytes": String(spool.end - max(resume, spool.base))])
            } catch {
                AgentLog.error("cannot open spool file", ["path": path, "error": "\(error)"])
            }
        }
    }
}
