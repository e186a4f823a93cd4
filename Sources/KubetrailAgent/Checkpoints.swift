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

    /// Where to resume reading `fd`: the checkpoint's offset when the bytes before it are still
    /// the ones that were acknowledged, else 0 (the file was truncated or is another file).
    public func resumeOffset(for identity: FileIdentity, fd: Int32) -> (offset: UInt64, truncated: Bool) {
        guard let e = entries[identity.description] else { return (0, false) }
        var st = stat()
        guard fstat(fd, &st) == 0, UInt64(st.st_size) >= e.offset,
              Self.marker(fd: fd, endingAt: e.offset) == e.marker else { return (0, true) }
        return (e.offset, false)
    }

    // MARK: Writing

    /// Records that everything before `offset` is acknowledged. Offsets never move back here;
    /// a truncated file is `reset` explicitly.
    public func advance(_ identity: FileIdentity, path: String, to offset: UInt64, fd: Int32, now: Timestamp = .now) {
        let key = identity.description
        if let e = entries[key], e.offset >= offset { return }
        entries[key] = Entry(identity: key, path: path, offset: offset, marker: Self.marker(fd: fd, endingAt: offset), updated: now)
        dirty = true
    }

    public func reset(_ identity: FileIdentity) {
        if entries.removeValue(forKey: identity.description) != nil { dirty = true }
    }

    public func remove(_ identity: FileIdentity) { reset(identity) }

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
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
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
                  let offset = UInt64(fields[1]), let micros = Int64(fields[3]) else {
                loadProblems.append("\(path):\(i + 2): damaged checkpoint ignored; that file is read again from its start")
                continue
            }
            let identity = String(fields[0])
            entries[identity] = Entry(identity: identity, path: Self.unescape(String(fields[4])), offset: offset,
                                      marker: String(fields[2]), updated: Timestamp(microseconds: micros))
        }
    }

    static func marker(fd: Int32, endingAt offset: UInt64) -> String {
        let n = Int(min(UInt64(markerBytes), offset))
        var bytes = [UInt8](repeating: 0, count: n)
        let got = n == 0 ? 0 : bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, n, off_t(offset) - off_t(n)) }
        guard got == n else { return "unreadable" }
        return SHA256Hex.digest(bytes, hexDigits: 16)
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
