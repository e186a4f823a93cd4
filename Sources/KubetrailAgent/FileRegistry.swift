/// Every file the agent holds open (or reads from the spool), and the three ways the loop finds
/// one: by (device, inode) when a directory event or a rescan names a path, by identity key when
/// an acknowledgement or a checkpoint names it, by inotify watch when the file itself changes.
/// Files come and go only through here, so the indexes never disagree with the list.
final class FileRegistry: RandomAccessCollection {
    private var files: [TailedFile] = []
    private var byInode: [DeviceInode: TailedFile] = [:]
    private var byKey: [String: TailedFile] = [:]
    private var byWatch: [Int32: TailedFile] = [:]

    var startIndex: Int { files.startIndex }
    var endIndex: Int { files.endIndex }
    subscript(i: Int) -> TailedFile { files[i] }

    /// A file opened by name, logrotate's copy of one, or a spool: indexed by what it has.
    func add(_ f: TailedFile) {
        files.append(f)
        if f.spool == nil { byInode[f.deviceInode] = f }
        if let key = f.identity { byKey[key] = f }
        if let w = f.watch { byWatch[w] = f }
    }

    func file(at inode: DeviceInode) -> TailedFile? { byInode[inode] }
    func file(key: String) -> TailedFile? { byKey[key] }
    func file(watch: Int32) -> TailedFile? { byWatch[watch] }

    /// The identity keys of the files held: their checkpoints are kept.
    var keys: Set<String> { Set(byKey.keys) }

    /// `f` now answers for `key` unless another file already does (the same stream read from
    /// two places: the first keeps it). False when another does.
    @discardableResult
    func claim(_ key: String, for f: TailedFile) -> Bool {
        if let other = byKey[key], other !== f { return false }
        byKey[key] = f
        return true
    }

    /// `f` no longer answers for its identity (it is read again from 0 under a new one).
    func releaseKey(of f: TailedFile) {
        if let key = f.identity, byKey[key] === f { byKey[key] = nil }
    }

    /// The kernel dropped `watch` (IN_IGNORED): the file is polled from now on.
    func watchEnded(_ watch: Int32) {
        byWatch.removeValue(forKey: watch)?.watch = nil
    }

    /// Stops indexing `f`'s watch; returns it for the caller to remove from inotify.
    func unwatch(_ f: TailedFile) -> Int32? {
        guard let w = f.watch else { return nil }
        if byWatch[w] === f { byWatch[w] = nil }
        f.watch = nil
        return w
    }

    /// `f` let go of its descriptor (its bytes are in the spool): a new file may get the inode.
    func forgetInode(of f: TailedFile) {
        if byInode[f.deviceInode] === f { byInode[f.deviceInode] = nil }
    }

    /// Drops `f` from the list and every index (its watch first goes through `unwatch`).
    func remove(_ f: TailedFile) {
        files.removeAll { $0 === f }
        forgetInode(of: f)
        releaseKey(of: f)
        if let w = f.watch, byWatch[w] === f { byWatch[w] = nil }
    }
}
