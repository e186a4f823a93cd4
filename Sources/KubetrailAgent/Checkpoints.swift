import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Where each file is acknowledged up to, persisted so a restarted agent neither loses nor
/// (beyond the aggregator's dedup) re-sends lines.
///
/// An offset only ever moves to the end of a line the aggregator has committed; it carries a
/// marker — a hash of the bytes just before it — so that a file truncated or replaced under the
/// same inode is noticed on restart. The file is written atomically (temp file, fsync, rename,
/// fsync of the directory); a torn or foreign file is reported and ignored, never fatal: the
/// agent then re-reads, and the aggregator's batch ids absorb the re-send.
public final class Checkpoints {
    public struct Entry: Equatable, Sendable {
        public var identity: String
        public var path: String
        public var offset: UInt64
        /// Hash of up to `markerBytes` bytes ending at `offset`.
        public var marker: String
        public var updated: Timestamp
    }

    public static let markerBytes = 32
    static let header = "kubetrail-checkpoints v1"

    public let path: String
    public private(set) var entries: [String: Entry] = [:]
    /// What was wrong with the file at load, if anything (for the log).
    public private(set) var loadProblems: [String] = []
    private var dirty = false
    private var lastSave = Timestamp(microseconds: 0)

    public init(path: String) {
        self.path = path
        load()
    }

    // MARK: Reading

    public func entry(for identity: FileIdentity) -> Entry? { entries[identity.description] }
    public func entry(forKey key: String) -> Entry? { entries[key] }

    /// Where to resume reading `fd`: the checkpoint's offset when the bytes before it are still
    /// the ones that were acknowledged, else 0 (the file was truncated or is another file).
    public func resumeOffset(for identity: FileIdentity, fd: Int32) -> (offset: UInt64, truncated: Bool) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return (0, entries[identity.description] != nil) }
        return resumeOffset(for: identity.description, size: UInt64(st.st_size)) { offset, count in
            Self.read(fd: fd, offset: offset, count: count)
        }
    }

    /// The same for any byte store (a live file or a spool holding part of one): `read` returns
    /// `count` bytes at a file offset, or nil when they are not there.
    public func resumeOffset(for key: String, size: UInt64, read: (UInt64, Int) -> [UInt8]?) -> (offset: UInt64, truncated: Bool) {
        guard let e = entries[key] else { return (0, false) }
        guard size >= e.offset, Self.marker(read, endingAt: e.offset) == e.marker else { return (0, true) }
        return (e.offset, false)
    }

    // MARK: Writing

    /// Records that everything before `offset` is acknowledged. Offsets never move back here;
    /// a truncated file is `reset` explicitly.
    public func advance(_ identity: FileIdentity, path: String, to offset: UInt64, fd: Int32, now: Timestamp = .now) {
        advance(identity.description, path: path, to: offset, now: now) { Self.read(fd: fd, offset: $0, count: $1) }
    }

    public func advance(_ key: String, path: String, to offset: UInt64, now: Timestamp = .now, read: (UInt64, Int) -> [UInt8]?) {
        if let e = entries[key], e.offset >= offset { return }
        entries[key] = Entry(identity: key, path: path, offset: offset, marker: Self.marker(read, endingAt: offset), updated: now)
        dirty = true
    }

    /// Records a file the moment it is first read, at offset 0, so that a restart knows every
    /// file it was reading — including one cut by copytruncate before anything of it was
    /// acknowledged, whose lines only its copy still holds.
    public func register(_ key: String, path: String, now: Timestamp = .now) {
        guard entries[key] == nil else { return }
        entries[key] = Entry(identity: key, path: path, offset: 0, marker: Self.marker({ _, _ in [] }, endingAt: 0), updated: now)
        dirty = true
    }

    /// Forgets entries of files that are not tracked, are gone from disk, and were last
    /// acknowledged before `cutoff` (a grace period, so a file briefly out of sight keeps its place).
    public func prune(keeping tracked: Set<String>, olderThan cutoff: Timestamp, isGone: (Entry) -> Bool) {
        for (key, e) in entries where !tracked.contains(key) && e.updated < cutoff && isGone(e) {
            entries.removeValue(forKey: key)
            dirty = true
        }
    }

    public func reset(_ identity: FileIdentity) { reset(key: identity.description) }

    public func reset(key: String) {
        if entries.removeValue(forKey: key) != nil { dirty = true }
    }

    /// Saves when something changed and at least `interval` passed since the last save
    /// (at most about once a second on a busy node).
    public func saveIfDue(now: Timestamp = .now, interval: Double = 1) throws {
        guard dirty, now.microseconds - lastSave.microseconds >= Int64(interval * 1_000_000) else { return }
        try save(now: now)
    }

    public func save(now: Timestamp = .now) throws {
        var text = Self.header + "\n"
        for e in entries.values.sorted(by: { $0.identity < $1.identity }) {
            let line = "\(e.identity)\t\(e.offset)\t\(e.marker)\t\(e.updated.microseconds)\t\(Self.escape(e.path))"
            text += line + "\t" + SHA256Hex.digest(Array(line.utf8), hexDigits: 8) + "\n"
        }
        try AtomicFile.write(Array(text.utf8), to: path)
        dirty = false
        lastSave = now
    }

    // MARK: Format

    private func load() {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno != ENOENT { loadProblems.append("cannot read \(path): \(String(cString: strerror(errno)))") }
            return
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 64 << 20 { loadProblems.append("\(path) is larger than 64 MiB; ignored"); return }
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first == Substring(Self.header) else {
            if !lines.isEmpty { loadProblems.append("\(path) is not a kubetrail checkpoint file; starting from the beginning of every file") }
            return
        }
        for (i, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 6,
                SHA256Hex.digest(Array(fields[0..<5].joined(separator: "\t").utf8), hexDigits: 8) == fields[5],
                let offset = UInt64(fields[1]), let micros = Int64(fields[3])
            else {
                loadProblems.append("\(path):\(i + 2): damaged checkpoint ignored; that file is read again from its start")
                continue
            }
            let identity = String(fields[0])
            entries[identity] = Entry(
                identity: identity, path: Self.unescape(String(fields[4])), offset: offset,
                marker: String(fields[2]), updated: Timestamp(microseconds: micros))
        }
    }

    static func marker(_ read: (UInt64, Int) -> [UInt8]?, endingAt offset: UInt64) -> String {
        let n = Int(min(UInt64(markerBytes), offset))
        guard let bytes = n == 0 ? [] : read(offset - UInt64(n), n), bytes.count == n else { return "unreadable" }
        return SHA256Hex.digest(bytes, hexDigits: 16)
    }

    static func read(fd: Int32, offset: UInt64, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        return got == count ? bytes : nil
    }

    static func escape(_ s: String) -> String {
        s.replacingAll("\\", "\\\\").replacingAll("\t", "\\t").replacingAll("\n", "\\n")
    }

    static func unescape(_ s: String) -> String {
        var out = ""
        var escaping = false
        for c in s {
            if escaping {
                out.append(c == "t" ? "\t" : c == "n" ? "\n" : c)
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}

extension String {
    /// Replacement without Foundation (the agent stays off full Foundation).
    func replacingAll(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
