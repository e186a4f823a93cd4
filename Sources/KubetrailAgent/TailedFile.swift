import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// (device, inode): how an open file is found again under a new name.
struct DeviceInode: Hashable {
    var device: UInt64
    var inode: UInt64
}

/// One file being tailed: its descriptor (kept across renames and deletion), where it has been
/// read, framed and acknowledged to, and what became of its name.
final class TailedFile {
    let kind: WireFormat.RecordKind
    let deviceInode: DeviceInode
    var path: String
    /// The name the stream was written under, when this is logrotate's copy of it: its lines
    /// are shipped (and checkpointed) as the original's.
    private(set) var copyOf: String?
    /// The container id from the `/var/log/containers` link, sent as the path's fragment.
    var containerID: String?
    private(set) var fd: Int32
    /// Set once the file's bytes live in the spool instead (the original was deleted).
    private(set) var spool: SpoolFile?
    /// Device, inode and first-line fingerprint; nil until the file has a first line.
    private(set) var identity: String?
    var framer: RecordFramer
    var acked: UInt64
    var size: UInt64 = 0
    /// The name is no longer the live one (renamed by rotation).
    var rotated = false
    /// The file has no name left (unlinked) but is still open.
    var deleted = false
    var watch: Int32?
    var lastChange = monotonicSeconds()
    let firstSeen = monotonicSeconds()
    var dirty = true

    init(kind: WireFormat.RecordKind, fd: Int32, deviceInode: DeviceInode, path: String, maxRecordBytes: Int) {
        self.kind = kind
        self.fd = fd
        self.deviceInode = deviceInode
        self.path = path
        framer = RecordFramer(format: kind == .auditLine ? .lines : .containerLog, maxRecordBytes: maxRecordBytes)
        acked = 0
    }

    /// A file whose remaining bytes are in the spool (after a restart).
    init(spool: SpoolFile, maxRecordBytes: Int, resumeAt offset: UInt64) {
        kind = spool.kind
        fd = -1
        self.spool = spool
        deviceInode = DeviceInode(device: 0, inode: 0)
        path = spool.originalPath
        identity = spool.key
        let start = max(offset, spool.base)
        framer = RecordFramer(format: kind == .auditLine ? .lines : .containerLog, maxRecordBytes: maxRecordBytes, startingAt: start)
        acked = start
        size = spool.end
        deleted = true
    }

    var isOpen: Bool { fd >= 0 || spool != nil }
    var wirePath: String {
        let name = copyOf ?? path
        return containerID.map { name + "#" + $0 } ?? name
    }
    var directory: String { path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "." }

    /// Acknowledged up to every complete record read so far, and nothing more to read.
    var isDrained: Bool { framer.position >= size && acked >= framer.committed }

    func source(truncated: Bool) -> WireFormat.Source {
        WireFormat.Source(kind: truncated ? kind.truncated : kind, path: wirePath, identity: identity ?? "")
    }

    /// Reads the file's size now (from the spool when spooled).
    @discardableResult
    func refreshSize() -> UInt64 {
        if let spool { size = spool.end; return size }
        var st = stat()
        if fstat(fd, &st) == 0 {
            let now = UInt64(st.st_size)
            if now != size { lastChange = monotonicSeconds() }
            size = now
            if st.st_nlink == 0 { deleted = true }
        }
        return size
    }

    /// Establishes the identity once the file has a first line; returns it.
    func establishIdentity() -> String? {
        if let identity { return identity }
        guard spool == nil, let fingerprint = FileIdentity.fingerprint(fd: fd) else { return nil }
        identity = FileIdentity(device: deviceInode.device, inode: deviceInode.inode, fingerprint: fingerprint).description
        return identity
    }

    /// The file now holds other bytes than those its identity was taken from (copytruncate):
    /// forget the identity and start again at 0.
    func restartAfterTruncation() {
        identity = nil
        framer.reset(to: 0)
        acked = 0
    }

    /// This file is a copy of `original`'s stream (copytruncate): it goes on from where that one
    /// was read and acknowledged, under its identity, as a rotated file.
    func continueStream(of original: String, identity key: String, framer state: RecordFramer, acked: UInt64, containerID: String?) {
        copyOf = original
        identity = key
        framer = state
        self.acked = acked
        self.containerID = containerID
        rotated = true
    }

    /// Reads up to `count` bytes at file offset `offset` into `buffer`.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: UInt64) -> Int {
        if let spool { return spool.read(into: buffer, count: count, at: offset) }
        while true {
            let n = pread(fd, buffer, count, off_t(offset))
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    func bytes(at offset: UInt64, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { read(into: $0.baseAddress!, count: count, at: offset) }
        return n == count ? out : nil
    }

    /// Switches to the spool and lets go of the original descriptor.
    func moveToSpool(_ spool: SpoolFile) {
        self.spool = spool
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        size = spool.end
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        spool?.close()
    }

    deinit { close() }
}
