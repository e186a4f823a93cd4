import Foundation
import KubetrailStore
import KubetrailTables

/// Streams files into the store: constant memory whatever the input size, rows committed in
/// batches, and a bad record reported with its file and line and skipped — never an abort,
/// never a lost neighbour.
public final class Importer {
    public struct Options: Sendable {
        public var kind: ImportKind
        public var clusterName: String?
        public var nodeName: String?
        public var rowsPerTransaction = 10_000
        public var maxLineBytes = 64 << 20
        public var maxMessageBytes = 1 << 20
        public var maxReportedProblems = 20

        public init(kind: ImportKind, clusterName: String? = nil, nodeName: String? = nil) {
            self.kind = kind
            self.clusterName = clusterName
            self.nodeName = nodeName
        }
    }

    let store: any Store
    let options: Options
    /// Receives one line per rejected record (`file:line: reason`), up to the configured cap.
    public var diagnostics: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    public var progress: ProgressReporter?

    private var summary = ImportSummary()
    private var reported = 0

    public init(store: any Store, options: Options) {
        self.store = store
        self.options = options
    }

    public func run(_ inputs: [InputFiles.Input]) throws -> ImportSummary {
        summary = ImportSummary()
        reported = 0
        let started = Date()
        let ingestTime = Timestamp.now
        for input in inputs {
            summary.files += 1
            let source: ByteSource, raw: InputSource
            do {
                (source, raw) = try InputFiles.open(input)
            } catch {
                summary.failedFiles.append("\(error)")
                diagnostics("\(error)")
                continue
            }
            progress?.startFile(input.path, size: raw.size, bytesRead: { raw.bytesConsumed })
            var context = IngestContext(
                clusterName: options.clusterName, sourceType: options.kind.sourceType,
                sourceName: options.nodeName,
                sourceLocation: input.isStandardInput ? nil : input.path,
                ingestTimestamp: ingestTime)
            if options.kind == .events || options.kind == .resources, input.isStandardInput { context.sourceLocation = "stdin" }
            let reader = LineReader(source, maxLineBytes: options.maxLineBytes)
            do {
                switch options.kind {
                case .audit: try importAudit(reader, input, context)
                case .podLogs: try importPodLogs(reader, input, context)
                case .events: try importObjects(reader, input, context, EventRow.self) { try EventNormalizer.row($0, context: $1) }
                case .resources: try importObjects(reader, input, context, ResourceRow.self) { try ResourceNormalizer.row($0, context: $1) }
                }
            } catch let error as IOError {
                // What was read before the error is already stored; the other files still load.
                progress?.finishFile()
                summary.failedFiles.append(error.description)
                diagnostics(error.description)
            } catch {
                // The store refused a write (disk full, …): stop, keeping what is committed.
                progress?.finishFile()
                summary.failure = "\(error)"
                summary.lines += reader.linesRead
                summary.bytes += raw.bytesConsumed
                break
            }
            summary.lines += reader.linesRead
            summary.bytes += raw.bytesConsumed
            progress?.finishFile()
        }
        summary.seconds = Date().timeIntervalSince(started)
        if reported > options.maxReportedProblems {
            diagnostics("… and \(reported - options.maxReportedProblems) more rejected records (counted in the summary)")
        }
        return summary
    }

    // MARK: Kinds

    private func importAudit(_ reader: LineReader, _ input: InputFiles.Input, _ context: IngestContext) throws {
        var batch = Batch<AuditLogRow>(store: store, maxRows: options.rowsPerTransaction)
        defer { try? batch.flush(into: &summary) }
        try forEachDocument(reader, input) { doc, firstLine in
            // A wrapper's bytes are charged to its first row, so the byte bound sees them once.
            var charge = doc.count
            try AuditDecoder.decode(doc, context: context) { outcome in
                try self.handle(outcome, &batch, input, line: firstLine, size: charge)
                charge = 0
            }
        }
        try batch.flush(into: &summary)
    }

    /// Frames JSON documents out of the lines; what cannot be framed is rejected with its line.
    private func forEachDocument(
        _ reader: LineReader, _ input: InputFiles.Input,
        _ body: (UnsafeRawBufferPointer, Int) throws -> Void
    ) throws {
        var framer = JSONDocumentFramer(maxDocumentBytes: options.maxLineBytes)
        func rejectFraming(_ firstLine: Int, _ reason: String) {
            summary.records += 1
            reject(reason: reason.hasPrefix("JSON document") ? "oversized record" : "malformed JSON", detail: reason, input, line: firstLine)
        }
        try reader.forEach { item in
            switch item {
            case .line(let bytes, let number, _):
                try framer.feed(line: bytes, lineNumber: number) { event in
                    switch event {
                    case .document(let doc, let firstLine): try body(doc, firstLine)
                    case .rejected(let firstLine, _, let reason): rejectFraming(firstLine, reason)
                    }
                }
            case .oversized(let number, _, let length):
                let detail = "line of \(length) bytes exceeds the \(options.maxLineBytes)-byte limit"
                framer.abandon(lastLine: number, reason: "JSON document with a \(detail)") { event in
                    if case .rejected(let firstLine, _, let reason) = event { rejectFraming(firstLine, reason) }
                }
                summary.records += 1
                reject(reason: "oversized record", detail: detail, input, line: number)
            }
            progress?.update(records: summary.records)
            return true
        }
        framer.finish(lastLine: reader.linesRead) { event in
            if case .rejected(let firstLine, _, let reason) = event { rejectFraming(firstLine, reason) }
        }
    }

    private func importPodLogs(_ reader: LineReader, _ input: InputFiles.Input, _ context: IngestContext) throws {
        var batch = Batch<PodLogRow>(store: store, maxRows: options.rowsPerTransaction)
        var assembler = ContainerLogAssembler(maxMessageBytes: options.maxMessageBytes)
        var normalizer: PodLogNormalizer? = nil
        let path = input.isStandardInput ? ContainerLogPath() : ImportedFileKey.containerPath(for: input.path)
        defer { try? batch.flush(into: &summary) }
        func emit(_ record: ContainerLogAssembler.Record) throws {
            guard let normalizer else { return }
            summary.records += 1
            if record.truncated { summary.truncated += 1 }
            try batch.add(.insert(store.prepare(normalizer.row(record))), size: record.message.utf8.count)
        }
        try reader.forEach { item in
            switch item {
            case .line(let bytes, let number, let offset):
                if normalizer == nil {
                    normalizer = PodLogNormalizer(
                        context: context, path: path, nodeName: options.nodeName,
                        fileIdentity: ImportedFileKey.fingerprint(firstLine: bytes, input: input, path: path))
                }
                do {
                    let line = try ContainerLogLine.parse(bytes)
                    if let record = assembler.add(line, offset: offset, lineNumber: number, unterminated: reader.isUnterminatedTail) { try emit(record) }
                } catch let error as ContainerLogError {
                    if error == .empty { return true }
                    summary.records += 1
                    reject(reason: error.reason, detail: error.description, input, line: number)
                }
            case .oversized(let number, _, let length):
                summary.records += 1
                reject(reason: "oversized record", detail: "line of \(length) bytes exceeds the \(options.maxLineBytes)-byte limit", input, line: number)
            }
            progress?.update(records: summary.records)
            return true
        }
        for record in assembler.finish() { try emit(record) }
        try batch.flush(into: &summary)
    }

    private func importObjects<R: TableRow>(
        _ reader: LineReader, _ input: InputFiles.Input, _ context: IngestContext, _: R.Type,
        _ normalize: @escaping (KubeObject, IngestContext) throws -> R
    ) throws {
        var batch = Batch<R>(store: store, maxRows: options.rowsPerTransaction)
        defer { try? batch.flush(into: &summary) }
        try forEachDocument(reader, input) { doc, firstLine in
            for entry in KubeDocument.entries(doc) {
                summary.records += 1
                switch entry {
                case .object(let object, let index):
                    do {
                        try batch.add(.insert(store.prepare(try normalize(object, context))), size: doc.count)
                    } catch var rejection as Rejection {
                        rejection.item = index
                        reject(reason: rejection.reason, detail: rejection.description, input, line: firstLine)
                    }
                case .deleted(let object, _):
                    if let uid = object.uid { try batch.add(.delete(uid)) }
                case .rejected(let rejection):
                    reject(reason: rejection.reason, detail: rejection.description, input, line: firstLine)
                }
            }
        }
        try batch.flush(into: &summary)
    }

    // MARK: Outcomes

    private func handle<R: TableRow>(_ outcome: RowOutcome<R>, _ batch: inout Batch<R>, _ input: InputFiles.Input, line: Int, size: Int) throws {
        summary.records += 1
        switch outcome {
        case .row(let row): try batch.add(.insert(store.prepare(row)), size: size)
        case .skipped: summary.skipped += 1
        case .rejected(let rejection): reject(reason: rejection.reason, detail: rejection.description, input, line: line)
        }
    }

    private func reject(reason: String, detail: String, _ input: InputFiles.Input, line: Int) {
        summary.reject(reason)
        reported += 1
        if reported <= options.maxReportedProblems {
            diagnostics("\(input.isStandardInput ? "<stdin>" : input.path):\(line): \(detail)")
        }
    }
}

/// Rows waiting for their transaction, handed to the writer thread in batches bounded by rows
/// and by bytes (a few RequestResponse events can be megabytes each).
struct Batch<R: TableRow> {
    typealias Op = PipelinedWriter<R>.Op
    let writer: PipelinedWriter<R>
    let maxRows: Int
    let maxBytes: Int
    var ops: [Op] = []
    var bytes = 0

    init(store: any Store, maxRows: Int, maxBytes: Int = 16 << 20) {
        writer = PipelinedWriter(store: store)
        self.maxRows = maxRows
        self.maxBytes = maxBytes
        ops.reserveCapacity(min(maxRows, 16_384))
    }

    /// `size` is the input bytes the op came from, for the byte bound.
    mutating func add(_ op: Op, size: Int = 0) throws {
        ops.append(op)
        bytes += size
        if ops.count >= maxRows || bytes >= maxBytes {
            let pending = ops
            ops.removeAll(keepingCapacity: true)
            bytes = 0
            try writer.submit(pending)
        }
    }

    /// Commits what is pending, waits for the writer and adds what it committed to the summary
    /// — also when it failed, so the summary never under-reports what is stored.
    mutating func flush(into summary: inout ImportSummary) throws {
        var submitError: (any Error)?
        if !ops.isEmpty {
            let pending = ops
            ops.removeAll()
            bytes = 0
            do { try writer.submit(pending) } catch { submitError = error }
        }
        let (counts, writeError) = writer.finish()
        summary.stored += counts.inserted
        summary.updated += counts.updated
        summary.duplicates += counts.duplicates
        summary.deleted += counts.deleted
        if let error = submitError ?? writeError { throw error }
    }
}
