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
                events.unfinishedLineDropped(f.path, bytes: f.framer.pendingBytes)
            }
            closed.append(f)
        }
        for f in closed { retire(f) }
    }

    func retire(_ f: TailedFile) {
        if let w = files.unwatch(f) { inotify.remove(w) }
        if !f.deleted && f.spool == nil { retired[f.deviceInode] = f.size }
        f.spool?.remove()
        f.close()
        files.remove(f)
        events.closed()
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
                events.spoolFull(f.path, bytes: need, limit: config.maxSpoolBytes, atShutdown: all)
                continue
            }
            do {
                let spool = try SpoolFile.create(from: f, key: key, base: f.acked, directory: spoolDirectory)
                if let w = files.unwatch(f) { inotify.remove(w) }
                files.forgetInode(of: f)
                f.moveToSpool(spool)
                events.spooled(f.path, bytes: need)
            } catch {
                events.spoolFailed(f.path, error, lost: all ? need : nil)
            }
        }
    }

    /// Spool files left by an earlier run become sources again, from their checkpoint on.
    func loadSpool() {
        for name in listDirectory(spoolDirectory) where name.hasSuffix(".spool") {
            let path = spoolDirectory + "/" + name
            do {
                guard let spool = try SpoolFile.open(path) else {
                    events.spoolDamaged(path)
                    continue
                }
                let resume = checkpoints.entry(forKey: spool.key)?.offset ?? spool.base
                if resume >= spool.end {
                    spool.remove()
                    continue
                }
                let maxRecord = spool.kind == .auditLine ? config.maxAuditLineBytes : config.maxContainerLineBytes
                let f = TailedFile(spool: spool, maxRecordBytes: maxRecord, resumeAt: resume)
                files.add(f)
                events.spoolResumed(f.path, bytes: spool.end - max(resume, spool.base))
            } catch {
                events.spoolUnreadable(path, error)
            }
        }
    }
}
