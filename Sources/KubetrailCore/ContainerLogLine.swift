/// One physical line of a container log file, as the runtime wrote it.
///
/// CRI (containerd, CRI-O): `<RFC 3339 time> <stdout|stderr> <P|F>[:flags] <content>`.
/// Docker json-file: `{"log":"…\n","stream":"stdout","time":"…"}`; a `log` without its
/// trailing newline is a partial line that the next entry continues.
public struct ContainerLogLine: Equatable, Sendable {
    public enum Format: String, Sendable { case cri, docker }

    public var format: Format
    public var timestamp: Timestamp?
    public var stream: String?
    /// True when the runtime split a long line and the next entry continues it.
    public var isPartial: Bool
    /// The text, without the runtime's framing and without the trailing newline.
    public var content: String

    public init(format: Format, timestamp: Timestamp?, stream: String?, isPartial: Bool, content: String) {
        self.format = format
        self.timestamp = timestamp
        self.stream = stream
        self.isPartial = isPartial
        self.content = content
    }

    public static func parse(_ line: UnsafeRawBufferPointer) throws(ContainerLogError) -> ContainerLogLine {
        var n = line.count
        if n > 0, line[n - 1] == 0x0D { n -= 1 }  // CRLF written by some tools
        guard n > 0 else { throw .empty }
        if line[0] == 0x7B { return try parseDocker(UnsafeRawBufferPointer(rebasing: line[0..<n])) }
        return try parseCRI(UnsafeRawBufferPointer(rebasing: line[0..<n]))
    }

    public static func parse(_ text: String) throws(ContainerLogError) -> ContainerLogLine {
        var text = text
        let result = text.withUTF8 { p in Result { () throws(ContainerLogError) in try parse(UnsafeRawBufferPointer(p)) } }
        return try result.get()
    }

    static func parseCRI(_ b: UnsafeRawBufferPointer) throws(ContainerLogError) -> ContainerLogLine {
        let scanned = CRILineHead.scan(b)
        let timeEnd: Int
        switch scanned {
        case .failure(.noTimestampEnd): throw .notCRI("no space after the timestamp")
        case .failure(.noStreamEnd(let t)), .failure(.badTag(let t, _, _, _)): timeEnd = t
        case .success(let head): timeEnd = head.timeEnd
        }
        guard let ts = Timestamp.parse(UnsafeRawBufferPointer(rebasing: b[0..<timeEnd])) else {
            throw .notCRI("invalid timestamp '\(String(decoding: UnsafeRawBufferPointer(rebasing: b[0..<min(timeEnd, 40)]), as: UTF8.self))'")
        }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: b[range]), as: UTF8.self) }
        let head: CRILineHead
        switch scanned {
        case .failure(.noTimestampEnd), .failure(.noStreamEnd): throw .notCRI("missing stream and tag")
        case .failure(.badTag(_, let stream, let tagStart, let tagEnd)):
            if stream == .other { throw .notCRI("unknown stream '\(text((timeEnd + 1)..<(tagStart - 1)).prefix(20))'") }
            if tagEnd == tagStart { throw .notCRI("missing tag") }
            throw .notCRI("unknown tag '\(text(tagStart..<tagEnd).prefix(20))'")
        case .success(let h): head = h
        }
        guard head.stream != .other else { throw .notCRI("unknown stream '\(text((timeEnd + 1)..<b.count).prefix { $0 != " " }.prefix(20))'") }
        return ContainerLogLine(
            format: .cri, timestamp: ts, stream: head.stream == .stdout ? "stdout" : "stderr", isPartial: head.isPartial,
            content: text(head.contentStart..<b.count))
    }

    static func parseDocker(_ b: UnsafeRawBufferPointer) throws(ContainerLogError) -> ContainerLogLine {
        var s = JSONScanner(b)
        var log: String? = nil
        var stream: String? = nil
        var time: String? = nil
        do throws(JSONError) {
            try s.enterObject()
            var first = true
            while let key = try s.nextKey(&first) {
                if s.token(key, equals: "log") {
                    log = try s.readString()
                } else if s.token(key, equals: "stream") {
                    stream = try s.readString()
                } else if s.token(key, equals: "time") {
                    time = try s.readString()
                } else {
                    try s.skipValue()
                }
            }
            s.skipWhitespace()
            guard s.isAtEnd else { throw JSONError.trailingData(s.position) }
        } catch {
            throw .invalidDocker(error.description)
        }
        guard var content = log else { throw .invalidDocker("no \"log\" field") }
        // Docker writes only these two; anything else would also open unbounded join buffers.
        if let stream, stream != "stdout", stream != "stderr" { throw .invalidDocker("unknown stream '\(stream.prefix(20))'") }
        var timestamp: Timestamp? = nil
        if let time {
            guard let t = Timestamp(rfc3339: time) else { throw .invalidDocker("invalid time '\(time.prefix(40))'") }
            timestamp = t
        }
        // Bytes, not Characters: "\r\n" is one Character, so hasSuffix("\n") misses it.
        let partial = content.utf8.last != 0x0A
        if !partial {
            var bytes = Array(content.utf8.dropLast())
            if bytes.last == 0x0D { bytes.removeLast() }
            content = String(decoding: bytes, as: UTF8.self)
        }
        return ContainerLogLine(format: .docker, timestamp: timestamp, stream: stream, isPartial: partial, content: content)
    }
}

public enum ContainerLogError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case notCRI(String)
    case invalidDocker(String)

    public var description: String {
        switch self {
        case .empty: return "empty line"
        case .notCRI(let why): return "not a CRI log line: \(why)"
        case .invalidDocker(let why): return "not a docker json-file line: \(why)"
        }
    }

    /// A short stable label for summaries and metrics.
    public var reason: String {
        switch self {
        case .empty: return "empty line"
        case .notCRI: return "malformed CRI line"
        case .invalidDocker: return "malformed docker json line"
        }
    }
}
