import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// How the agent knows a file across renames and restarts: (device, inode) plus a fingerprint
/// of its first bytes, so a reused inode is not mistaken for the file that had it before.
public struct FileIdentity: Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    /// Hash of the first `fingerprintBytes` bytes; nil while the file is shorter than that.
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
        fingerprint = nil
        if Int(st.st_size) >= Self.fingerprintBytes {
            var head = [UInt8](repeating: 0, count: Self.fingerprintBytes)
            let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Self.fingerprintBytes, 0) }
            if n == Self.fingerprintBytes { fingerprint = SHA256Hex.digest(head, hexDigits: 16) }
        }
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
