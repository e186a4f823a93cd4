import Crypto
import Foundation
import KubetrailStore

/// Writes a query's rows in one output format into numbered files of at most about
/// `maxFileBytes` each (every file complete in itself: a CSV file repeats the header), hashing
/// each file as it is written.
final class RollingFileSink: QuerySink {
    let directory: String
    let baseName: String
    let format: OutputFormat
    let maxFileBytes: Int
    private(set) var files: [ExportManifest.File] = []
    private(set) var columns: [QueryColumn] = []
    private(set) var rows = 0
    private(set) var firstTimestamp: String?
    private(set) var lastTimestamp: String?
    private var timestampIndex: Int?
    private var current: (fd: Int32, name: String, out: TextOutput, sink: any QuerySink, hash: HashBox, rows: Int)?
    private var writeError: String?
    var onRow: ((Int) -> Void)?

    init(directory: String, baseName: String, format: OutputFormat, maxFileBytes: Int) {
        self.directory = directory
        self.baseName = baseName
        self.format = format
        self.maxFileBytes = maxFileBytes
    }

    var fileExtension: String { format == .csv ? "csv" : "jsonl" }

    func begin(columns: [QueryColumn]) throws {
        self.columns = columns
        timestampIndex = columns.firstIndex { $0.name == "tp_timestamp" }
    }

    func row(_ values: [QueryValue]) throws {
        if current == nil || current!.out.totalBytes >= maxFileBytes { try rotate() }
        try current!.sink.row(values)
        current!.rows += 1
        rows += 1
        if let i = timestampIndex, case .text(let t) = values[i] {
            if firstTimestamp == nil || t < firstTimestamp! { firstTimestamp = t }
            if lastTimestamp == nil || t > lastTimestamp! { lastTimestamp = t }
        }
        if let writeError { throw ExportError(writeError) }
        onRow?(rows)
    }

    func end() throws {
        if current == nil { try rotate() }   // an empty export still has its (header-only) file
        try close()
    }

    private func rotate() throws {
        try close()
        let name = "\(baseName)-\(String(format: "%04d", files.count + 1)).\(fileExtension)"
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw ExportError("cannot create \(path): \(String(cString: strerror(errno)))") }
        let box = HashBox()
        let out = TextOutput { [weak self] chunk in
            box.hash.update(data: chunk)
            box.bytes += chunk.count
            let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written != chunk.count { self?.writeError = "cannot write \(path): \(String(cString: strerror(errno)))" }
        }
        let sink = format.sink(writingTo: out)
        try sink.begin(columns: columns)
        current = (fd, name, out, sink, box, 0)
    }

    private func close() throws {
        guard let c = current else { return }
        try c.sink.end()
        c.out.flush()
        if let writeError { throw ExportError(writeError) }
        guard fsync(c.fd) == 0 else { throw ExportError("cannot sync \(c.name): \(String(cString: strerror(errno)))") }
        Foundation.close(c.fd)
        files.append(.init(name: c.name, bytes: c.hash.bytes, rows: c.rows, sha256: c.hash.hash.finalize().map { String(format: "%02x", $0) }.joined()))
        current = nil
    }
}

/// The running hash and size of the file being written (the output's chunk handler feeds it).
private final class HashBox {
    var hash = SHA256()
    var bytes = 0
}

public struct ExportError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
