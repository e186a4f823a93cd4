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
        let n = b.count
        func field(from i: Int) -> Int? {
            var j = i
            while j < n, b[j] != 0x20 { j += 1 }
            return j < n ? j : nil
        }
        guard let s1 = field(from: 0) else { throw .notCRI("no space after the timestamp") }
        guard let ts = Timestamp.parse(UnsafeRawBufferPointer(rebasing: b[0..<s1])) else {
            throw .notCRI("invalid timestamp '\(String(decoding: UnsafeRawBufferPointer(rebasing: b[0..<min(s1, 40)]), as: UTF8.self))'")
        }
        guard let s2 = field(from: s1 + 1) else { throw .notCRI("missing stream and tag") }
        let stream = String(decoding: UnsafeRawBufferPointer(rebasing: b[(s1 + 1)..<s2]), as: UTF8.self)
        guard stream == "stdout" || stream == "stderr" else { throw .notCRI("unknown stream '\(stream.prefix(20))'") }
        // The tag may be the last field when the content is empty.
        let s3 = field(from: s2 + 1) ?? n
        guard s3 > s2 + 1 else { throw .notCRI("missing tag") }
        let tagFirst = b[s2 + 1]
        guard tagFirst == 0x50 || tagFirst == 0x46, s3 == s2 + 2 || b[s2 + 2] == 0x3A else {
            throw .notCRI("unknown tag '\(String(decoding: UnsafeRawBufferPointer(rebasing: b[(s2 + 1)..<s3]), as: UTF8.self).prefix(20))'")
        }
        let contentStart = min(s3 + 1, n)
        return ContainerLogLine(
            format: .cri, timestamp: ts, stream: stream, isPartial: tagFirst == 0x50,
            content: String(decoding: UnsafeRawBufferPointer(rebasing: b[contentStart..<n]), as: UTF8.self))
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
