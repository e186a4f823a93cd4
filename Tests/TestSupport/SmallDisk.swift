import Foundation

/// A filesystem that can really fill up: a tmpfs of a few megabytes mounted on a temp dir
/// (needs root, as CI runs), for tests of what a full disk does to a writer.
public final class SmallDisk: @unchecked Sendable {
    public let mountPoint: String
    /// An empty directory on it, owned by `owner` (a PostgreSQL tablespace's location).
    public let path: String
    private var filler: String { mountPoint + "/filler" }
    private var mounted = false

    public init(megabytes: Int, owner: String? = nil) throws {
        var template = Array((NSTemporaryDirectory() + "/kubetrail-disk-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw ServerError("mkdtemp: \(errno)") }
        mountPoint = String(cString: made)
        path = mountPoint + "/data"
        let mount = try Subprocess.run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0755", "tmpfs", mountPoint])
        guard mount.status == 0 else {
            rmdir(mountPoint)
            throw ServerError("a full-disk test mounts a tmpfs, which needs root (CAP_SYS_ADMIN): \(mount.stderr)")
        }
        mounted = true
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        if let owner, getuid() == 0 {
            let chown = try Subprocess.run(URL(fileURLWithPath: "/bin/chown"), ["\(owner):\(owner)", path])
            guard chown.status == 0 else { throw ServerError("chown: \(chown.stderr)") }
        }
    }

    /// Takes every free block, as another writer on a shared volume would.
    public func fill() throws {
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw ServerError("open filler: \(errno)") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var size = chunk.count
        while size > 0 {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, size) }
            if n < 0 {
                guard errno == ENOSPC else { throw ServerError("write filler: \(errno)") }
                size /= 2  // down to the last page
            }
        }
    }

    /// Gives the space back.
    public func free() throws {
        try FileManager.default.removeItem(atPath: filler)
    }

    public func unmount() {
        guard mounted else { return }
        mounted = false
        _ = try? Subprocess.run(URL(fileURLWithPath: "/bin/umount"), ["-l", mountPoint])
        rmdir(mountPoint)
    }

    deinit { unmount() }
}
