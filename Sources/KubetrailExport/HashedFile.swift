import Crypto
import Foundation
import KubetrailCore

/// One export file being written: created exclusively and private (0600), buffered, hashed as
/// it goes, synced to disk before it is counted in the manifest.
final class HashedFile {
    let name: String
    let path: String
    private let fd: Int32
    private var hash = SHA256()
    private var buffer: [UInt8] = []
    private(set) var bytes = 0
    var rows = 0

    /// `name` is relative to `directory` and may contain subdirectories, created as needed.
    init(directory: String, name: String) throws {
        self.name = name
        path = directory + "/" + name
        let parent = (path as NSString).deletingLastPathComponent
        try PrivateFile.makeDirectories(parent)
        fd = try PrivateFile.create(path)
        buffer.reserveCapacity(1 << 20)
    }

    deinit { if fd >= 0 { Foundation.close(fd) } }

    /// Syncs a directory, so the files created in it survive a crash as entries, not only as data.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        Foundation.close(fd)
    }

    func write(_ chunk: some Collection<UInt8>) throws {
        buffer.append(contentsOf: chunk)
        bytes += chunk.count
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        hash.update(data: buffer)
        try buffer.withUnsafeBytes { try PrivateFile.write(fd, $0, path: path) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and describes the finished file.
    func finish() throws -> ExportManifest.File {
        try flush()
        guard fsync(fd) == 0 else { throw ExportError("cannot sync \(path): \(String(cString: strerror(errno)))") }
        return .init(name: name, bytes: bytes, rows: rows, sha256: Hex.encode(hash.finalize()))
    }
}
