import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// logrotate's `copytruncate` copies a log (`audit.log` → `audit.log.1`, `audit.log-20261204`)
/// and then cuts the original to zero bytes. Whatever the agent had not read before the cut —
/// lines written while it was busy, restarting, or held back during an outage — is no longer in
/// the original, but it is in the copy. This finds that copy so the agent can read the rest of
/// the stream from it, under the identity and offsets it was reading with.
///
/// A copy is a regular file beside the original, named the original's name followed by `.`,
/// `-` or `_` and not compressed, whose first line is the one the original had (the identity's
/// fingerprint) and which is longer than what was read. Compressed copies (`compress` without
/// `delaycompress`) are not opened: those lines are lost, as they are to every tailer.
enum TruncatedCopy {
    struct Found {
        var fd: Int32
        var deviceInode: DeviceInode
        var path: String
        var size: UInt64
    }

    /// The fingerprint part of an identity key (`device:inode:fingerprint`).
    static func fingerprint(ofKey key: String) -> String? {
        guard let colon = key.lastIndex(of: ":") else { return nil }
        let fp = String(key[key.index(after: colon)...])
        return fp == "-" || fp.isEmpty ? nil : fp
    }

    /// The (device, inode) part of an identity key.
    static func deviceInode(ofKey key: String) -> DeviceInode? {
        let parts = key.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return nil }
        return DeviceInode(device: device, inode: inode)
    }

    /// Whether `name` is a name logrotate may give a copy of `original`.
    static func isCopyName(_ name: String, of original: String) -> Bool {
        guard name.count > original.count + 1, name.hasPrefix(original) else { return false }
        let separator = name[name.index(name.startIndex, offsetBy: original.count)]
        guard separator == "." || separator == "-" || separator == "_" else { return false }
        let compressed = [".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z", ".zip"]
        return !compressed.contains { name.hasSuffix($0) } && !LogFileNames.isNeverRead(name)
    }

    /// Opens the copy of the file `path` that starts with the line fingerprinted in `key` and
    /// holds more than `offset` bytes; `excluding` are files already open (never a copy).
    /// The caller owns the returned descriptor.
    static func find(original path: String, key: String, beyond offset: UInt64, excluding: (DeviceInode) -> Bool) -> Found? {
        guard let fingerprint = fingerprint(ofKey: key), let slash = path.lastIndex(of: "/") else { return nil }
        let dir = String(path[..<slash])
        let base = String(path[path.index(after: slash)...])
        for name in listDirectory(dir).sorted() where isCopyName(name, of: base) {
            let candidate = dir + "/" + name
            var st = stat()
            guard lstat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, UInt64(st.st_size) > offset else { continue }
            let di = DeviceInode(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            guard !excluding(di), case .opened(let fd) = LogFileOpener.open(candidate, expected: di, followLinks: false) else { continue }
            if FileIdentity.fingerprint(fd: fd) == fingerprint {
                return Found(fd: fd, deviceInode: di, path: candidate, size: UInt64(st.st_size))
            }
            close(fd)
        }
        return nil
    }
}
