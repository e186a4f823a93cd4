import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a batch the aggregator refused for its content (a 4xx other than auth, throttling or
/// size) is kept: the deflated batch as sent and a note of why, so nothing is dropped and an
/// operator can inspect it or send it again (`kubetrail-agent replay-quarantine`).
struct Quarantine {
    let directory: String

    func store(_ batch: OutgoingBatch, status: Int, reply: String) throws -> String {
        try makeDirectory(directory)
        let stem = directory + "/" + Timestamp.now.description.replacingAll(":", "-") + "-" + batch.batchID
        try AtomicFile.write(batch.body, to: stem + ".ktwb.zz")
        let note = "status \(status)\nbatch \(batch.batchID)\nrecords \(batch.records)\nbytes \(batch.rawBytes)\nreply \(reply.prefix(4000))\n"
        try AtomicFile.write(Array(note.utf8), to: stem + ".txt")
        return stem + ".ktwb.zz"
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
