/// Splits a stream of lines into top-level JSON documents.
///
/// Audit logs are JSON lines, but people also feed pretty-printed single events, concatenated
/// objects and wrappers (`EventList`, `{"records":[…]}`). The framer tracks nesting across lines
/// without validating (the normalizers validate), and recovers after damage: JSON forbids raw
/// newlines inside strings, so a string still open at the end of a line marks a broken document;
/// and pretty-printers indent nested lines, so a `{` in column 0 while a document is open means
/// the open one was truncated. Either way only the damaged document is rejected.
public struct JSONDocumentFramer {
    public enum Event {
        /// A complete document. The bytes are valid only during the callback.
        case document(UnsafeRawBufferPointer, firstLine: Int)
        case rejected(firstLine: Int, lastLine: Int, reason: String)
    }

    public let maxDocumentBytes: Int
    private var buffer: [UInt8] = []
    private var depth = 0
    private var startLine = 0
    private var accumulating = false
    private var overflowed = false

    public init(maxDocumentBytes: Int = 64 << 20) {
        self.maxDocumentBytes = maxDocumentBytes
    }

    public mutating func feed(line: UnsafeRawBufferPointer, lineNumber: Int, _ emit: (Event) throws -> Void) rethrows {
        var i = 0
        let n = line.count
        if accumulating, n > 0, line[0] == 0x7B {
            try emit(
                .rejected(
                    firstLine: startLine, lastLine: lineNumber - 1,
                    reason: overflowed
                        ? "JSON document larger than \(maxDocumentBytes) bytes"
                        : "truncated JSON document (a new document starts before it closed)"))
            reset()
        }
        while i < n {
            if !accumulating {
                // Skip whitespace and a UTF-8 byte order mark between documents.
                while i < n, isSpace(line[i]) { i += 1 }
                if i + 2 < n, line[i] == 0xEF, line[i + 1] == 0xBB, line[i + 2] == 0xBF { i += 3; continue }
                guard i < n else { return }
                guard line[i] == 0x7B || line[i] == 0x5B else {
                    try emit(
                        .rejected(
                            firstLine: lineNumber, lastLine: lineNumber,
                            reason: "not JSON: a document must start with '{' or '[', found \(describe(line[i]))"))
                    return
                }
                let start = i
                depth = 0
                switch scan(line, from: &i) {
                case .closed:
                    try emit(.document(UnsafeRawBufferPointer(rebasing: line[start..<i]), firstLine: lineNumber))
                case .open:
                    accumulating = true
                    startLine = lineNumber
                    append(UnsafeRawBufferPointer(rebasing: line[start..<n]))
                    return
                case .unterminatedString:
                    try emit(
                        .rejected(
                            firstLine: lineNumber, lastLine: lineNumber,
                            reason: "invalid JSON: string not closed at end of line"))
                    depth = 0
                    return
                }
            } else {
                let start = i
                switch scan(line, from: &i) {
                case .closed:
                    append(UnsafeRawBufferPointer(rebasing: line[start..<i]))
                    if overflowed {
                        try emit(
                            .rejected(
                                firstLine: startLine, lastLine: lineNumber,
                                reason: "JSON document larger than \(maxDocumentBytes) bytes"))
                    } else {
                        try buffer.withUnsafeBytes { try emit(.document($0, firstLine: startLine)) }
                    }
                    reset()
                case .open:
                    append(UnsafeRawBufferPointer(rebasing: line[start..<n]))
                    return
                case .unterminatedString:
                    try emit(
                        .rejected(
                            firstLine: startLine, lastLine: lineNumber,
                            reason: "invalid JSON: string not closed at end of line"))
                    reset()
                    return
                }
            }
        }
    }

    /// A line of the open document was dropped (too long): the document cannot be whole.
    public mutating func abandon(lastLine: Int, reason: String, _ emit: (Event) throws -> Void) rethrows {
        guard accumulating else { return }
        try emit(.rejected(firstLine: startLine, lastLine: lastLine, reason: reason))
        reset()
    }

    /// Call at end of input: an open document is truncated.
    public mutating func finish(lastLine: Int, _ emit: (Event) throws -> Void) rethrows {
        guard accumulating else { return }
        try emit(
            .rejected(
                firstLine: startLine, lastLine: lastLine,
                reason: overflowed
                    ? "JSON document larger than \(maxDocumentBytes) bytes"
                    : "truncated JSON document at end of input"))
        reset()
    }

    private enum ScanResult { case closed, open, unterminatedString }

    /// Advances through one line tracking nesting; stops right after the byte that closes depth 0.
    private mutating func scan(_ line: UnsafeRawBufferPointer, from i: inout Int) -> ScanResult {
        let n = line.count
        while i < n {
            let c = line[i]
            if c == 0x22 {
                i += 1
                while i < n, line[i] != 0x22 {
                    if line[i] == 0x5C { i += 1 }
                    i += 1
                }
                if i >= n { return .unterminatedString }
                i += 1
                continue
            }
            if c == 0x7B || c == 0x5B {
                depth += 1
            } else if c == 0x7D || c == 0x5D {
                depth -= 1
                if depth <= 0 { i += 1; depth = 0; return .closed }
            }
            i += 1
        }
        return .open
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !overflowed else { return }
        if buffer.count + bytes.count + 1 > maxDocumentBytes {
            overflowed = true
            buffer = []
            return
        }
        if !buffer.isEmpty { buffer.append(0x0A) }
        buffer.append(contentsOf: bytes)
    }

    private mutating func reset() {
        buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
        accumulating = false
        overflowed = false
        depth = 0
    }
}

@inline(__always) func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

func describe(_ b: UInt8) -> String {
    b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
}
