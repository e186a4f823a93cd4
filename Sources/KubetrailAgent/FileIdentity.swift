import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// How the agent knows a file across renames and restarts: (device, inode) plus a fingerprint
/// of its first line (at most its first 1,024 bytes), so a reused inode is not mistaken for the
/// file that had it before.
///
/// The first line rather than a fixed 1,024 bytes: a file is worth shipping only once it holds a
/// complete line, and from then on its first line never changes, so the identity under which
/// rows and checkpoints are keyed is the same at the first send and at every re-send after a
/// restart, however short the file was.
public struct FileIdentity: Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    /// Hash of the first line (or first `fingerprintBytes` bytes); nil while neither exists.
    public var fingerprint: String?

    public static let fingerprintBytes = 1024

    public init(device: UInt64, inode: UInt64, fingerprint: String?) {
        self.device = device
        self.inode = inode
        self.fingerprint = fingerprint
    }

    /// Reads the identity of an open file.
    public init(fd: Int32) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AgentIOError(operation: "fstat", errno: errno) }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        fingerprint = Self.fingerprint(fd: fd)
    }

    /// The fingerprint of what `fd` holds now, nil while it has no complete first line and is
    /// shorter than `fingerprintBytes`.
    public static func fingerprint(fd: Int32) -> String? {
        var head = [UInt8](repeating: 0, count: fingerprintBytes)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, fingerprintBytes, 0) }
        guard n > 0 else { return nil }
        if let nl = head[0..<n].firstIndex(of: 0x0A) { return SHA256Hex.digest(Array(head[0...nl]), hexDigits: 16) }
        return n == fingerprintBytes ? SHA256Hex.digest(head, hexDigits: 16) : nil
    }

    /// The key checkpoints are stored under (and the wire format's file identity).
    public var description: String { "\(device):\(inode):\(fingerprint ?? "-")" }

    /// Same file: same device and inode, and fingerprints that do not contradict each other
    /// (one may be missing while the file was still short).
    public func isSameFile(as other: FileIdentity) -> Bool {
        guard device == other.device, inode == other.inode else { return false }
        guard let a = fingerprint, let b = other.fingerprint else { return true }
        return a == b
    }
}

public struct AgentIOError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String?
    public var code: Int32

    public init(operation: String, path: String? = nil, errno code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String {
        "\(operation)\(path.map { " \($0)" } ?? ""): \(String(cString: strerror(code)))"
    }
}
