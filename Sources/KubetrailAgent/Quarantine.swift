import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a batch the aggregator refused for its content (a 4xx other than auth, throttling or
/// size) is kept: the deflated batch as sent and a note of why, so an operator can inspect it or
/// send it again (`kubetrail-agent replay-quarantine`).
///
/// The directory is bounded (`maxBytes`, batches and notes together): an aggregator that
/// refuses everything must not fill the node's disk. When a batch does not fit it is refused
/// and what is already kept stays untouched — the first refusals are the ones that explain the
/// problem, and files an operator may be reading do not vanish.
struct Quarantine {
    let directory: String
    var maxBytes: UInt64 = .max

    struct Full: Error, CustomStringConvertible {
        var used: UInt64
        var needed: UInt64
        var limit: UInt64
        var description: String { "quarantine holds \(used) bytes; \(needed) more would pass its bound of \(limit)" }
    }

    func store(_ batch: OutgoingBatch, status: Int, reply: String) throws -> String {
        try makeDirectory(directory)
        let note = Array("status \(status)\nbatch \(batch.batchID)\nrecords \(batch.records)\nbytes \(batch.rawBytes)\nreply \(reply.prefix(4000))\n".utf8)
        let used = usedBytes()
        let needed = UInt64(batch.body.count + note.count)
        guard used <= maxBytes, needed <= maxBytes - used else { throw Full(used: used, needed: needed, limit: maxBytes) }
        let stem = directory + "/" + Timestamp.now.description.replacingAll(":", "-") + "-" + batch.batchID
        try AtomicFile.write(batch.body, to: stem + ".ktwb.zz")
        try AtomicFile.write(note, to: stem + ".txt")
        return stem + ".ktwb.zz"
    }

    /// Bytes on disk in the directory, whatever the files are (leftover temp files count too).
    func usedBytes() -> UInt64 {
        listDirectory(directory).reduce(0) { total, name in
            var st = stat()
            guard lstat(directory + "/" + name, &st) == 0 else { return total }
            return total + UInt64(max(0, st.st_size))
        }
    }

    /// The batch id and record count written beside a quarantined batch: what a reply to its
    /// replay has to confirm.
    static func noteFacts(of batchFile: String) -> (batchID: String, records: Int)? {
        guard let bytes = readWholeFile(String(batchFile.dropLast(".ktwb.zz".count)) + ".txt", limit: 64 << 10) else { return nil }
        var batchID: String?
        var records: Int?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("batch ") { batchID = String(line.dropFirst(6)) }
            if line.hasPrefix("records ") { records = Int(line.dropFirst(8)) }
        }
        guard let batchID, let records else { return nil }
        return (batchID, records)
    }

    /// The quarantined batches, oldest first.
    func batches() -> [String] {
        listDirectory(directory).filter { $0.hasSuffix(".ktwb.zz") }.sorted().map { directory + "/" + $0 }
    }
}

func makeDirectory(_ path: String) throws {
    var prefix = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        prefix += "/" + part
        if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
            throw AgentIOError(operation: "mkdir", path: prefix, errno: errno)
        }
    }
}

func listDirectory(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

func readWholeFile(_ path: String, limit: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while out.count <= limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return out.count <= limit ? out : nil
}
