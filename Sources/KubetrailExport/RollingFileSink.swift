import Foundation
import KubetrailStore

/// Writes a query's rows as CSV or JSON lines into numbered files of at most about
/// `maxFileBytes` each (every file complete in itself: a CSV file repeats the header).
final class RollingFileSink: ExportSink {
    let directory: String
    let baseName: String
    let format: ExportFormat
    let maxFileBytes: Int
    private(set) var files: [ExportManifest.File] = []
    private(set) var tally = ExportTally()
    private var current: (file: HashedFile, out: TextOutput, sink: any QuerySink)?
    private var writeError: Error?
    var onRow: ((Int) -> Void)?

    init(directory: String, baseName: String, format: ExportFormat, maxFileBytes: Int) {
        self.directory = directory
        self.baseName = baseName
        self.format = format
        self.maxFileBytes = maxFileBytes
    }

    func begin(columns: [QueryColumn]) throws { tally.begin(columns) }

    func row(_ values: [QueryValue]) throws {
        if current == nil || current!.out.totalBytes >= maxFileBytes { try rotate() }
        try current!.sink.row(values)
        current!.file.rows += 1
        tally.count(values)
        if let writeError { throw writeError }
        onRow?(tally.rows)
    }

    func end() throws {
        if current == nil { try rotate() }  // an empty export still has its (header-only) file
        try close()
    }

    private func rotate() throws {
        try close()
        let file = try HashedFile(directory: directory, name: "\(baseName)-\(String(format: "%04d", files.count + 1)).\(format.fileExtension)")
        let out = TextOutput { [weak self] chunk in
            do { try file.write(chunk) } catch { self?.writeError = error }
        }
        let sink = format.textFormat!.sink(writingTo: out)
        try sink.begin(columns: tally.columns)
        current = (file, out, sink)
    }

    private func close() throws {
        guard let c = current else { return }
        current = nil
        try c.sink.end()
        c.out.flush()
        if let writeError { throw writeError }
        files.append(try c.file.finish())
    }
}

public struct ExportError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
