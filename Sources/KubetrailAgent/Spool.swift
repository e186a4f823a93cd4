import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Bytes of a deleted file that were not yet acknowledged, copied to the state directory so
/// the descriptor can be let go of (the disk space a held deleted file pins is the node's) and
/// so they survive a restart. The spool is bounded; what does not fit stays on the held
/// descriptor.
///
/// A spool file is a header line `kubetrail-spool v1 <kind> <key> <base> <end> <path>` (tab
/// separated, path escaped) followed by the original file's bytes from `base` to `end`.
final class SpoolFile {
    let path: String
    let kind: WireFormat.RecordKind
    let key: String
    let base: UInt64
    let end: UInt64
    let originalPath: String
    private var fd: Int32
    private let dataStart: UInt64

    static let header = "kubetrail-spool v1"

    private init(path: String, fd: Int32, kind: WireFormat.RecordKind, key: String, base: UInt64, end: UInt64, originalPath: String, dataStart: UInt64) {
        self.path = path
        self.fd = fd
        self.kind = kind
        self.key = key
        self.base = base
        self.end = end
        self.originalPath = originalPath
        self.dataStart = dataStart
    }

    var bytes: UInt64 { end - base }

    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: UInt64) -> Int {
        guard offset >= base, offset < end else { return 0 }
        let n = min(UInt64(count), end - offset)
        return pread(fd, buffer, Int(n), off_t(dataStart + offset - base))
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    func remove() {
        close()
        unlink(path)
    }

    /// Copies `file`'s bytes from `base` to its end into a new spool file (temp, fsync, rename).
    static func create(from file: TailedFile, key: String, base: UInt64, directory: String) throws -> SpoolFile {
        try makeDirectory(directory)
        let end = file.refreshSize()
        let head = "\(header)\t\(file.kind.rawValue)\t\(key)\t\(base)\t\(end)\t\(Checkpoints.escape(file.wirePath))\n"
        let name = directory + "/" + key.replacingAll(":", "-") + ".spool"
        let temp = name + ".tmp"
        let out = Glibc.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw AgentIOError(operation: "create", path: temp, errno: errno) }
        var ok = false
        defer { if !ok { Glibc.close(out); unlink(temp) } }
        try writeAll(out, Array(head.utf8), path: temp)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset = base
        while offset < end {
            let n = chunk.withUnsafeMutableBytes { file.read(into: $0.baseAddress!, count: Int(min(UInt64($0.count), end - offset)), at: offset) }
            guard n > 0 else { throw AgentIOError(operation: "read for spool", path: file.path, errno: n < 0 ? errno : EIO) }
            try writeAll(out, Array(chunk[0..<n]), path: temp)
            offset += UInt64(n)
        }
        guard fsync(out) == 0 else { throw AgentIOError(operation: "fsync", path: temp, errno: errno) }
        guard rename(temp, name) == 0 else { throw AgentIOError(operation: "rename", path: name, errno: errno) }
        ok = true
        Glibc.close(out)
        let dfd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); Glibc.close(dfd) }
        guard let spool = try open(name) else { throw AgentIOError(operation: "reopen spool", path: name, errno: EIO) }
        return spool
    }

    /// Opens a spool file written earlier; nil (and the reason) for anything damaged.
    static func open(_ path: String) throws -> SpoolFile? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AgentIOError(operation: "open", path: path, errno: errno) }
        var head = [UInt8](repeating: 0, count: 8192)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0, let nl = head[0..<n].firstIndex(of: 0x0A) else { Glibc.close(fd); return nil }
        let fields = String(decoding: head[0..<nl], as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
        var st = stat()
        fstat(fd, &st)
        guard fields.count == 6, fields[0] == Substring(header), let rawKind = UInt8(fields[1]),
            let kind = WireFormat.RecordKind(rawValue: rawKind), let base = UInt64(fields[3]), let end = UInt64(fields[4]),
            end >= base, UInt64(st.st_size) == UInt64(nl + 1) + end - base
        else {
            Glibc.close(fd)
            return nil
        }
        return SpoolFile(
            path: path, fd: fd, kind: kind, key: String(fields[2]), base: base, end: end,
            originalPath: Checkpoints.unescape(String(fields[5])), dataStart: UInt64(nl + 1))
    }
}
