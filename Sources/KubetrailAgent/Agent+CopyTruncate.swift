import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Reading on from logrotate's copy of a file cut back by copytruncate (`TruncatedCopy`), both
/// when the cut is seen live and when it happened while the agent was not running.
extension Agent {
    /// `f` was just found cut back: if its copy holds bytes past what was read, a tailed file for
    /// the copy takes over `f`'s stream — identity, framing state, acknowledged offset — so the
    /// records still in flight and those read next belong to one stream, checkpointed as one.
    func continueFromCopy(of f: TailedFile) -> TailedFile? {
        guard f.spool == nil, let key = f.identity else { return nil }
        let original = f.copyOf ?? f.path
        guard
            let found = TruncatedCopy.find(
                original: original, key: key, beyond: f.framer.position,
                excluding: { self.files.file(at: $0) != nil })
        else { return nil }
        return adoptCopy(found, kind: f.kind, original: original, key: key, framer: f.framer, acked: f.acked, containerID: f.containerID)
    }

    /// After a restart: a checkpoint whose file still has its name and inode but no longer its
    /// first line was cut back while the agent was away; its copy, if it still holds the very
    /// bytes acknowledged (the checkpoint's marker), is read from the checkpoint on.
    func continueFromCopiesCutWhileAway() {
        for (key, entry) in checkpoints.entries where files.file(key: key) == nil {
            let parts = entry.path.split(separator: "#", maxSplits: 1).map(String.init)
            guard let original = parts.first, let di = TruncatedCopy.deviceInode(ofKey: key) else { continue }
            var st = stat()
            guard stat(original, &st) == 0, UInt64(st.st_dev) == di.device, UInt64(st.st_ino) == di.inode else { continue }
            guard let kind = recordKind(ofFileIn: original) else { continue }
            guard
                let found = TruncatedCopy.find(
                    original: original, key: key, beyond: entry.offset,
                    excluding: { self.files.file(at: $0) != nil })
            else { continue }
            let resume = checkpoints.resumeOffset(for: key, size: found.size) { Checkpoints.read(fd: found.fd, offset: $0, count: $1) }
            guard !resume.truncated, resume.offset == entry.offset else {
                close(found.fd)
                continue
            }
            let cap = kind == .auditLine ? config.maxAuditLineBytes : config.maxContainerLineBytes
            let framer = RecordFramer(format: kind == .auditLine ? .lines : .containerLog, maxRecordBytes: cap, startingAt: entry.offset)
            _ = adoptCopy(
                found, kind: kind, original: original, key: key, framer: framer, acked: entry.offset,
                containerID: parts.count > 1 ? parts[1] : nil)
        }
    }

    private func recordKind(ofFileIn path: String) -> WireFormat.RecordKind? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        switch directories[String(path[..<slash])]?.role {
        case .audit?: return .auditLine
        case .container?: return .containerLogLine
        case .links?, nil: return nil
        }
    }

    private func adoptCopy(
        _ found: TruncatedCopy.Found, kind: WireFormat.RecordKind, original: String, key: String,
        framer: RecordFramer, acked: UInt64, containerID: String?
    ) -> TailedFile {
        let copy = TailedFile(kind: kind, fd: found.fd, deviceInode: found.deviceInode, path: found.path, maxRecordBytes: framer.maxRecordBytes)
        copy.continueStream(of: original, identity: key, framer: framer, acked: acked, containerID: containerID)
        copy.refreshSize()
        files.add(copy)
        events.followingCopy(of: original, copy: found.path, from: framer.position, to: copy.size)
        return copy
    }
}
