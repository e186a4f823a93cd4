/// Joins the pieces runtimes split long lines into: CRI `P` lines up to their `F`, docker
/// entries without a trailing newline up to the one that has it — per stream, because
/// stdout and stderr interleave in one file.
public struct ContainerLogAssembler {
    public struct Record: Equatable, Sendable {
        public var timestamp: Timestamp?
        public var stream: String?
        public var message: String
        /// Offset and line number of the first piece: the record's identity in its file.
        public var offset: Int64
        public var lineNumber: Int
        /// The joined message exceeded the cap and was cut.
        public var truncated: Bool
        /// The input ended before the final piece arrived.
        public var incomplete: Bool

        public init(
            timestamp: Timestamp?, stream: String?, message: String, offset: Int64, lineNumber: Int,
            truncated: Bool, incomplete: Bool
        ) {
            self.timestamp = timestamp
            self.stream = stream
            self.message = message
            self.offset = offset
            self.lineNumber = lineNumber
            self.truncated = truncated
            self.incomplete = incomplete
        }
    }

    private struct Pending {
        var first: ContainerLogLine
        var message: String
        var offset: Int64
        var lineNumber: Int
        var truncated: Bool
    }

    public let maxMessageBytes: Int
    private var pending: [String: Pending] = [:]

    public init(maxMessageBytes: Int = 1 << 20) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Adds one parsed line; returns a record when this line completes one. `unterminated` marks
    /// a last line without its newline: its text may still grow, so the record is incomplete.
    public mutating func add(_ line: ContainerLogLine, offset: Int64, lineNumber: Int, unterminated: Bool = false) -> Record? {
        let key = line.stream ?? ""
        if var p = pending[key] {
            append(line.content, to: &p)
            if line.isPartial {
                pending[key] = p
                return nil
            }
            pending[key] = nil
            return Record(
                timestamp: p.first.timestamp, stream: p.first.stream, message: p.message,
                offset: p.offset, lineNumber: p.lineNumber, truncated: p.truncated, incomplete: unterminated)
        }
        var p = Pending(first: line, message: "", offset: offset, lineNumber: lineNumber, truncated: false)
        append(line.content, to: &p)
        if line.isPartial {
            pending[key] = p
            return nil
        }
        return Record(
            timestamp: line.timestamp, stream: line.stream, message: p.message,
            offset: offset, lineNumber: lineNumber, truncated: p.truncated, incomplete: unterminated)
    }

    /// At end of input: what is still open is emitted rather than lost, marked incomplete.
    public mutating func finish() -> [Record] {
        let out = pending.values.sorted { $0.offset < $1.offset }.map {
            Record(
                timestamp: $0.first.timestamp, stream: $0.first.stream, message: $0.message,
                offset: $0.offset, lineNumber: $0.lineNumber, truncated: $0.truncated, incomplete: true)
        }
        pending = [:]
        return out
    }

    private func append(_ content: String, to p: inout Pending) {
        guard !p.truncated else { return }
        let room = maxMessageBytes - p.message.utf8.count
        if content.utf8.count <= room {
            p.message += content
        } else {
            // Cut on a character boundary so the stored text stays valid UTF-8.
            var cut = content.utf8.index(content.utf8.startIndex, offsetBy: max(0, room))
            while cut > content.startIndex, !content.unicodeScalars.indices.contains(cut) { cut = content.utf8.index(before: cut) }
            p.message += content[..<cut]
            p.truncated = true
        }
    }
}
