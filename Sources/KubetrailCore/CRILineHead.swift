#if canImport(Glibc)
import Glibc
#endif

/// The fields in front of a CRI log line's content, `<time> <stdout|stderr> <P|F>[:flags] `:
/// where they end, which stream, and whether the line is a `P` (partial) piece that the stream's
/// next lines continue up to an `F`. The one reading of CRI framing: the agent's framer groups
/// `P…F` records with it, the aggregator's parser splits lines with it.
public struct CRILineHead: Sendable {
    public enum Stream: UInt8, Sendable {
        case stdout = 1, stderr = 2
        /// A name CRI does not define: the parser refuses the line; the framer still tracks it.
        case other = 4
    }

    /// Index of the space after the timestamp.
    public var timeEnd: Int
    public var stream: Stream
    /// True for `P`: the runtime split a long line and the stream's next line continues it.
    public var isPartial: Bool
    /// Index of the first content byte (the line's end when there is none).
    public var contentStart: Int

    /// Why a line has no CRI head, with what was read before (cheap to make: the framer meets
    /// every docker line here).
    public enum Failure: Error, Sendable {
        case noTimestampEnd
        case noStreamEnd(timeEnd: Int)
        /// The tag is missing (`tagEnd == tagStart`) or neither `P` nor `F`.
        case badTag(timeEnd: Int, stream: Stream, tagStart: Int, tagEnd: Int)
    }

    /// Reads the head of `line` (the whole line, or its first bytes: the head fits in 96).
    public static func scan(_ line: UnsafeRawBufferPointer) -> Result<CRILineHead, Failure> {
        // Run for every line of every container: memchr and memcmp, not generic collection
        // searches and comparisons (they were 2 % of the agent's CPU).
        let n = line.count
        guard let base = line.baseAddress, let firstSpace = memchr(base, 0x20, n) else { return .failure(.noTimestampEnd) }
        let timeEnd = base.distance(to: UnsafeRawPointer(firstSpace))
        let streamStart = timeEnd + 1
        guard streamStart < n, let secondSpace = memchr(base + streamStart, 0x20, n - streamStart) else {
            return .failure(.noStreamEnd(timeEnd: timeEnd))
        }
        let streamEnd = base.distance(to: UnsafeRawPointer(secondSpace))
        let length = streamEnd - streamStart
        let stream: Stream =
            length == 6 && memcmp(base + streamStart, "stdout", 6) == 0
            ? .stdout
            : length == 6 && memcmp(base + streamStart, "stderr", 6) == 0 ? .stderr : .other
        // The tag may be the last field when the content is empty.
        let tagStart = streamEnd + 1
        var tagEnd = tagStart
        while tagEnd < n, line[tagEnd] != 0x20 { tagEnd += 1 }
        let tag = tagEnd > tagStart ? line[tagStart] : 0
        guard tag == UInt8(ascii: "P") || tag == UInt8(ascii: "F"), tagEnd == tagStart + 1 || line[tagStart + 1] == UInt8(ascii: ":") else {
            return .failure(.badTag(timeEnd: timeEnd, stream: stream, tagStart: tagStart, tagEnd: tagEnd))
        }
        return .success(CRILineHead(timeEnd: timeEnd, stream: stream, isPartial: tag == UInt8(ascii: "P"), contentStart: min(tagEnd + 1, n)))
    }
}

/// The streams of one container log file with a `P` piece waiting for its `F`: a record may
/// end only where none is open.
public struct OpenCRIGroups: Sendable {
    private var open: UInt8 = 0

    public init() {}

    public var isEmpty: Bool { open == 0 }

    /// A `P` opens its stream's group, an `F` closes it; a line that is not CRI leaves them.
    public mutating func note(_ head: Result<CRILineHead, CRILineHead.Failure>) {
        guard case .success(let h) = head else { return }
        if h.isPartial { open |= h.stream.rawValue } else { open &= ~h.stream.rawValue }
    }

    public mutating func removeAll() { open = 0 }
}
