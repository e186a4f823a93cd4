import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Cuts one file's bytes, fed in order as they are read, into records: complete lines, and for
/// container logs whole CRI `P…F` groups. A record ends only at a newline after which no stream
/// has an open `P` group, so every record end is a safe place to resume after a restart; a
/// trailing partial line is never a record.
///
/// Records over `maxRecordBytes` keep their first `maxRecordBytes` bytes and are flagged
/// truncated, while the framer keeps scanning to their end — memory stays bounded by the cap and
/// the file is never abandoned.
public struct RecordFramer {
    public enum Format: Sendable {
        /// One record per line (audit JSON lines).
        case lines
        /// CRI lines with `P…F` grouping per stream; docker json-file lines are single records.
        case containerLog
    }

    public struct Record {
        /// File offset of the record's first byte.
        public var offset: UInt64
        /// Valid only during the callback.
        public var bytes: UnsafeRawBufferPointer
        /// Offset just past the newline that ends the record: where reading resumes after it.
        public var end: UInt64
        public var truncated: Bool
    }

    public let format: Format
    public let maxRecordBytes: Int
    /// Offset of the next byte to feed.
    public private(set) var position: UInt64
    /// End of the last record emitted: the resume point.
    public private(set) var committed: UInt64
    /// Offset just past the last newline seen.
    public private(set) var lastLineEnd: UInt64

    private var carry: [UInt8] = []  // the open record's first bytes, when it spans feeds
    private var carryTruncated = false
    private var lineHead: [UInt8] = []  // the start of a line that spans feeds (to classify it)
    private var openGroups = OpenCRIGroups()
    private static let headBytes = 96

    public init(format: Format, maxRecordBytes: Int, startingAt offset: UInt64 = 0) {
        self.format = format
        self.maxRecordBytes = max(1, maxRecordBytes)
        position = offset
        committed = offset
        lastLineEnd = offset
    }

    /// Bytes consumed but not yet part of an emitted record.
    public var pendingBytes: UInt64 { position - committed }
    public var hasOpenGroup: Bool { !openGroups.isEmpty }

    /// Starts over at `offset` (a truncated file).
    public mutating func reset(to offset: UInt64) {
        self = RecordFramer(format: format, maxRecordBytes: maxRecordBytes, startingAt: offset)
    }

    /// Feeds the bytes at `position`; calls `emit` for each record they complete.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ emit: (Record) -> Void) {
        let count = chunk.count
        guard count > 0, let base = chunk.baseAddress else { return }
        let start = position
        // Where the open record starts inside this chunk; nil when it began in an earlier one.
        var recordStart: Int? = committed == start ? 0 : nil
        var lineStart = 0
        while lineStart < count, let found = memchr(base + lineStart, 0x0A, count - lineStart) {
            let nl = base.distance(to: UnsafeRawPointer(found))
            let closes: Bool
            switch format {
            case .lines:
                closes = true
            case .containerLog:
                if lineHead.isEmpty || lineStart > 0 {
                    classify(UnsafeRawBufferPointer(rebasing: chunk[lineStart..<min(nl, lineStart + Self.headBytes)]))
                } else {
                    appendHead(UnsafeRawBufferPointer(rebasing: chunk[0..<nl]))
                    lineHead.withUnsafeBytes { classify($0) }
                }
                closes = openGroups.isEmpty
            }
            lineHead.removeAll(keepingCapacity: true)
            let end = start + UInt64(nl) + 1
            lastLineEnd = end
            if closes {
                if let rs = recordStart {
                    let length = nl - rs
                    let kept = min(length, maxRecordBytes)
                    emit(
                        Record(
                            offset: start + UInt64(rs), bytes: UnsafeRawBufferPointer(rebasing: chunk[rs..<(rs + kept)]),
                            end: end, truncated: kept < length))
                } else {
                    appendCarry(UnsafeRawBufferPointer(rebasing: chunk[0..<nl]))
                    emitCarry(end: end, emit)
                }
                committed = end
                recordStart = nl + 1
            }
            lineStart = nl + 1
        }
        if lineStart < count {
            // A partial line: remember how it starts (or more of it, if it started earlier).
            if lineStart == 0 && lastLineEnd < start {
                appendHead(chunk)
            } else {
                lineHead.removeAll(keepingCapacity: true)
                appendHead(UnsafeRawBufferPointer(rebasing: chunk[lineStart..<count]))
            }
        }
        if let rs = recordStart {
            if rs < count { appendCarry(UnsafeRawBufferPointer(rebasing: chunk[rs..<count])) }
        } else {
            appendCarry(chunk)
        }
        position = start + UInt64(count)
    }

    /// Emits an open group whose `F` has not come (a rotated file at its end, or a group older
    /// than the merge age) so it is not held forever. Only whole lines: a partial line waits.
    @discardableResult
    public mutating func flushOpenGroup(_ emit: (Record) -> Void) -> Bool {
        guard !openGroups.isEmpty, position == lastLineEnd, lastLineEnd > committed else { return false }
        if !carry.isEmpty, carry.last == 0x0A { carry.removeLast() }
        emitCarry(end: lastLineEnd, emit)
        committed = lastLineEnd
        openGroups.removeAll()
        return true
    }

    private mutating func emitCarry(end: UInt64, _ emit: (Record) -> Void) {
        carry.withUnsafeBytes { emit(Record(offset: committed, bytes: $0, end: end, truncated: carryTruncated)) }
        carry.removeAll(keepingCapacity: carry.capacity <= 64 << 10)
        carryTruncated = false
    }

    private mutating func appendCarry(_ bytes: UnsafeRawBufferPointer) {
        let room = maxRecordBytes - carry.count
        if bytes.count > room { carryTruncated = true }
        if room > 0 { carry.append(contentsOf: bytes.prefix(room)) }
    }

    private mutating func appendHead(_ bytes: UnsafeRawBufferPointer) {
        let room = Self.headBytes - lineHead.count
        if room > 0 { lineHead.append(contentsOf: bytes.prefix(room)) }
    }

    /// A line's head: its `P` or `F` opens or closes its stream's group.
    private mutating func classify(_ head: UnsafeRawBufferPointer) {
        openGroups.note(CRILineHead.scan(head))
    }
}
