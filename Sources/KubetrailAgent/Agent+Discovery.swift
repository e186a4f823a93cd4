import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// A watched directory and what its entries are to the agent.
struct WatchedDirectory {
    enum Role {
        /// Audit logs: entries matching any of these name patterns.
        case audit(patterns: [String])
        /// `/var/log/containers`: symlinks whose targets are the files to tail.
        case links
        /// `/var/log/pods/<ns>_<pod>_<uid>/<container>`: kubelet's files, with the container id
        /// of each restart learned from the links.
        case container(containerIDs: [Int: String])
    }

    var path: String
    var watch: Int32?
    var role: Role
}

extension Agent {
    // MARK: Inotify

    var hasReadableWork: Bool {
        files.contains { $0.dirty && $0.isOpen } && unackedBytes < UInt64(config.maxUnackedBytes) && !compressionBacklogged
    }

    func handleInotify() {
        let changes: [Inotify.Event]
        do { changes = try inotify.read(timeout: 0) } catch {
            events.inotifyReadFailed(error)
            nextRescan = 0
            return
        }
        for event in changes {
            if event.kind.contains(.overflow) {
                // Events were lost: trust nothing, look at everything.
                events.inotifyOverflowed()
                nextRescan = 0
                for f in files { f.dirty = true }
                continue
            }
            if let f = files.file(watch: event.watch) {
                if event.kind.contains(.ignored) { files.watchEnded(event.watch) }
                if event.kind.contains(.attributes) || event.kind.contains(.selfDeleted) { f.refreshSize() }
                f.dirty = true
                continue
            }
            guard let dirPath = directoryByWatch[event.watch] else { continue }
            if event.kind.contains(.ignored) || event.kind.contains(.selfDeleted) {
                directoryByWatch[event.watch] = nil
                directories[dirPath]?.watch = nil
                if case .container = directories[dirPath]?.role { directories[dirPath] = nil }
                continue
            }
            guard !event.name.isEmpty else { continue }
            let path = dirPath + "/" + event.name
            if event.kind.contains(.created) || event.kind.contains(.movedTo) {
                considerEntry(directory: dirPath, name: event.name)
            }
            if event.kind.contains(.deleted) || event.kind.contains(.movedFrom) {
                nameGone(path)
            }
        }
    }

    // MARK: Scanning

    /// Looks at every configured place again: new directories, entries missed or lost in an
    /// overflow, files grown without an event, links to new containers.
    func rescan() {
        nextRescan = monotonicSeconds() + config.rescanInterval
        var auditDirectories: [String: [String]] = [:]
        for pattern in config.auditPaths {
            let slash = pattern.lastIndex(of: "/")
            let dirPattern = slash.map { String(pattern[..<$0]) } ?? "."
            let namePattern = slash.map { String(pattern[pattern.index(after: $0)...]) } ?? pattern
            for dir in expandDirectories(dirPattern.isEmpty ? "/" : dirPattern) {
                auditDirectories[dir, default: []].append(namePattern)
            }
        }
        for (dir, patterns) in auditDirectories {
            ensureWatched(dir, role: .audit(patterns: patterns))
        }
        if let links = config.containersDirectory { ensureWatched(links, role: .links) }
        for dir in Array(directories.keys) {
            guard let watched = directories[dir] else { continue }
            if watched.watch == nil, case .container = watched.role, access(dir, F_OK) != 0 {
                directories[dir] = nil
                continue
            }
            for name in listDirectory(dir) { considerEntry(directory: dir, name: name) }
        }
        for f in files where f.isOpen {
            let before = f.size
            f.refreshSize()
            if f.size != before || f.framer.position < f.size || f.framer.hasOpenGroup { f.dirty = true }
            if f.spool == nil, f.framer.position > 0, f.identity != nil, fingerprintChanged(f) {
                truncated(f, reason: "its first line changed")
            }
        }
        spoolDeletedFiles(all: false)
        let tracked = files.keys
        checkpoints.prune(keeping: tracked, olderThan: Timestamp.now.adding(microseconds: -Int64(config.checkpointGrace * 1e6))) {
            Self.checkpointedFileIsGone($0)
        }
    }

    /// A checkpoint's file is gone when its name is, or when the name still holds the same
    /// inode with another first line (cut by copytruncate; its copy had its chance to be read).
    /// A name now holding another inode is not enough: a rotated file whose checkpoint still
    /// bears its old name can be found again by inode after a restart.
    static func checkpointedFileIsGone(_ entry: Checkpoints.Entry) -> Bool {
        let path = entry.path.split(separator: "#", maxSplits: 1).first.map(String.init) ?? entry.path
        var st = stat()
        guard stat(path, &st) == 0 else { return true }
        guard let di = TruncatedCopy.deviceInode(ofKey: entry.identity), let fingerprint = TruncatedCopy.fingerprint(ofKey: entry.identity),
            di == DeviceInode(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        else { return false }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var now = stat()
        guard fstat(fd, &now) == 0, (now.st_mode & S_IFMT) == S_IFREG, now.st_ino == st.st_ino else { return false }
        return FileIdentity.fingerprint(fd: fd).map { $0 != fingerprint } ?? true
    }

    private func expandDirectories(_ pattern: String) -> [String] {
        guard GlobMatch.hasMagic(pattern) else { return [pattern] }
        var g = glob_t()
        defer { globfree(&g) }
        guard glob(pattern, GLOB_ONLYDIR, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }
    }

    func ensureWatched(_ dir: String, role: WatchedDirectory.Role) {
        if var existing = directories[dir] {
            if case .audit = role { existing.role = role }
            if existing.watch == nil { existing.watch = try? inotify.watchDirectory(dir) }
            if let w = existing.watch { directoryByWatch[w] = dir }
            directories[dir] = existing
            return
        }
        var st = stat()
        guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return }
        var watched = WatchedDirectory(path: dir, watch: nil, role: role)
        do {
            watched.watch = try inotify.watchDirectory(dir)
        } catch {
            events.directoryNotWatched(dir, error)
        }
        if let w = watched.watch { directoryByWatch[w] = dir }
        directories[dir] = watched
        for name in listDirectory(dir) { considerEntry(directory: dir, name: name) }
    }

    /// A name appeared (or is seen on a rescan): start tailing it, or recognise a known file
    /// under a new name.
    func considerEntry(directory dir: String, name: String) {
        guard let watched = directories[dir], !LogFileNames.isNeverRead(name) else { return }
        let path = dir + "/" + name
        switch watched.role {
        case .audit(let patterns):
            guard patterns.contains(where: { GlobMatch.matches($0, name) }) else { return }
            track(path: path, kind: .auditLine, live: !LogFileNames.isLumberjackBackup(name), containerID: nil)
        case .links:
            followLink(name: name, path: path)
        case .container(let ids):
            let live = LogFileNames.isLiveContainerLog(name)
            guard live || LogFileNames.isRotatedContainerLog(name) else { return }
            track(path: path, kind: .containerLogLine, live: live, containerID: LogFileNames.restart(of: name).flatMap { ids[$0] })
        }
    }

    /// `/var/log/containers/<pod>_<ns>_<container>-<id>.log` → watch its target's directory.
    private func followLink(name: String, path: String) {
        guard name.hasSuffix(".log") else { return }
        if decidedLinks[name] == false { return }
        let parsed = LogFileNames.containerLink(name)
        if let ns = parsed?.namespace, decidedLinks[name] == nil {
            let allowed = config.namespaces.allows(ns)
            decidedLinks[name] = allowed
            if !allowed { return }
        }
        let target: String
        switch PodsDirectory(path: config.podsDirectory).resolve(link: path) {
        case .dangling:
            return  // the next rescan tries again
        case .outside(let elsewhere):
            // Said once per target: every rescan comes across the link again.
            if refusedLinks[name] != elsewhere {
                refusedLinks[name] = elsewhere
                events.linkOutsidePods(link: path, target: elsewhere, podsDirectory: config.podsDirectory)
            }
            return
        case .inside(let file):
            refusedLinks[name] = nil
            target = file
        }
        guard let slash = target.lastIndex(of: "/") else { return }
        let dir = String(target[..<slash])
        let file = String(target[target.index(after: slash)...])
        if parsed == nil, let ns = LogFileNames.podDirectoryNamespace(dir), !config.namespaces.allows(ns) {
            decidedLinks[name] = false
            return
        }
        var ids: [Int: String] = [:]
        if case .container(let known)? = directories[dir]?.role { ids = known }
        if let id = parsed?.containerID, let restart = LogFileNames.restart(of: file), ids[restart] != id {
            ids[restart] = id
            if directories[dir] != nil { directories[dir]!.role = .container(containerIDs: ids) }
            for f in files where f.directory == dir && LogFileNames.restart(of: f.path.split(separator: "/").last.map(String.init) ?? "") == restart {
                f.containerID = id
            }
        }
        ensureWatched(dir, role: .container(containerIDs: ids))
    }

    /// Starts tailing `path`, or updates the name of the file already open under that inode.
    ///
    /// kubelet's own files are never symlinks: one in a pod directory could lead anywhere on the
    /// node, so container logs are looked at and opened without following links. Audit paths
    /// are the operator's and may be links.
    func track(path: String, kind: WireFormat.RecordKind, live: Bool, containerID: String?) {
        let followLinks = kind == .auditLine
        var st = stat()
        guard (followLinks ? stat(path, &st) : lstat(path, &st)) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return }
        let key = DeviceInode(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        if let f = files.file(at: key) {
            if f.path != path {
                if !live && !f.rotated { events.rotated() }
                f.path = path
                f.rotated = !live
                if let containerID { f.containerID = containerID }
            }
            f.dirty = true
            return
        }
        if let size = retired[key] {
            if size == UInt64(st.st_size) { return }
            retired[key] = nil
        }
        let fd: Int32
        switch LogFileOpener.open(path, expected: key, followLinks: followLinks) {
        case .opened(let opened):
            fd = opened
        case .replaced:
            return  // the event (or rescan) for the new file follows
        case .notRegular(let mode):
            events.notRegularFile(path, mode: mode)
            return
        case .failed(let code):
            events.openFailed(path, errno: code)
            return
        }
        let maxRecord = kind == .auditLine ? config.maxAuditLineBytes : config.maxContainerLineBytes
        let f = TailedFile(kind: kind, fd: fd, deviceInode: key, path: path, maxRecordBytes: maxRecord)
        f.rotated = !live
        f.containerID = containerID
        f.refreshSize()
        do { f.watch = try inotify.watchFile(path) } catch {
            events.fileNotWatched(path, error)
        }
        files.add(f)
        events.opened()
        resumeFromCheckpoint(f)
    }

    /// Once a file has a first line, picks up where its checkpoint says.
    func resumeFromCheckpoint(_ f: TailedFile) {
        guard f.framer.position == 0, let key = f.establishIdentity() else { return }
        guard files.claim(key, for: f) else { return }
        defer { checkpoints.register(key, path: f.wirePath) }
        let resume = checkpoints.resumeOffset(for: key, size: f.size) { f.bytes(at: $0, count: $1) }
        if resume.truncated {
            events.changedSinceCheckpoint(f.path)
            checkpoints.reset(key: key)
        }
        if resume.offset > 0 {
            f.framer.reset(to: resume.offset)
            f.acked = resume.offset
        }
    }

    /// A name left a watched directory: the file was renamed away or deleted. Its descriptor
    /// stays open and is drained either way.
    func nameGone(_ path: String) {
        guard let f = files.first(where: { $0.path == path && $0.spool == nil }) else { return }
        f.refreshSize()
        if !f.deleted && !f.rotated {
            f.rotated = true
            events.rotated()
        }
        f.dirty = true
    }

    private func fingerprintChanged(_ f: TailedFile) -> Bool {
        guard let key = f.identity, let now = FileIdentity.fingerprint(fd: f.fd) else { return f.identity != nil && f.size == 0 }
        return !key.hasSuffix(":" + now)
    }

    /// The file was cut back under us (copytruncate): what was not read before is read from
    /// logrotate's copy when one is beside it, else it is gone; the file itself is read again
    /// from 0 under a new identity.
    func truncated(_ f: TailedFile, reason: String) {
        let copy = continueFromCopy(of: f)
        events.truncated(
            f.path, reason: reason, readBefore: f.framer.position, copy: copy.map { ($0.path, $0.size - $0.framer.position) },
            writtenAfterRead: f.size < f.framer.position)
        files.releaseKey(of: f)
        f.restartAfterTruncation()
        f.dirty = true
    }
}
