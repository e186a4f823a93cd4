#if canImport(Glibc)
import Glibc
#endif

/// Splits a byte source into lines with their byte offsets, in constant memory.
///
/// A line longer than `maxLineBytes` is not buffered: it is reported as oversized and skipped
/// to its newline, so one runaway line can neither exhaust memory nor hide its neighbours.
public final class LineReader {
    public enum Item {
        /// A line without its `\n`; bytes are valid only during the callback.
        case line(UnsafeRawBufferPointer, number: Int, offset: Int64)
        case oversized(number: Int, offset: Int64, length: Int64)
    }

    private let source: ByteSource
    public let maxLineBytes: Int
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    /// Absolute offset of `buffer[start]`.
    private var offset: Int64 = 0
    private var lineNumber = 0

    public init(_ source: ByteSource, maxLineBytes: Int = 64 << 20, chunkSize: Int = 1 << 20) {
        self.source = source
        self.maxLineBytes = max(1, maxLineBytes)
        buffer = .allocate(byteCount: max(min(chunkSize, maxLineBytes + 1), 4096), alignment: 16)
    }

    deinit { buffer.deallocate() }

    public var linesRead: Int { lineNumber }
    /// True while the line being delivered is the input's last and has no newline: a writer may
    /// still be appending to it.
    public private(set) var isUnterminatedTail = false

    /// Calls `body` for every line until the source ends or `body` returns false.
    public func forEach(_ body: (Item) throws -> Bool) throws {
        var skippedFrom: Int64? = nil  // start offset of an oversized line being skipped
        var eof = false
        while true {
            while start < end {
                let base = buffer.baseAddress! + start
                guard let nl = memchr(base, 0x0A, end - start) else { break }
                let len = UnsafeRawPointer(nl) - UnsafeRawPointer(base)
                lineNumber += 1
                let lineOffset = offset
                start += len + 1
                offset += Int64(len + 1)
                let more: Bool
                if let from = skippedFrom {
                    skippedFrom = nil
                    more = try body(.oversized(number: lineNumber, offset: from, length: offset - 1 - from))
                } else if len > maxLineBytes {
                    more = try body(.oversized(number: lineNumber, offset: lineOffset, length: Int64(len)))
                } else {
                    more = try body(.line(UnsafeRawBufferPointer(start: base, count: len), number: lineNumber, offset: lineOffset))
                }
                if !more { return }
            }
            if skippedFrom != nil {
                offset += Int64(end - start)
                start = end
            }
            if eof {
                guard start < end || skippedFrom != nil else { return }
                isUnterminatedTail = true
                lineNumber += 1
                let len = end - start
                if let from = skippedFrom {
                    _ = try body(.oversized(number: lineNumber, offset: from, length: offset - from))
                } else if len > maxLineBytes {
                    _ = try body(.oversized(number: lineNumber, offset: offset, length: Int64(len)))
                } else {
                    _ = try body(.line(UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: len), number: lineNumber, offset: offset))
                }
                offset += Int64(len)
                start = end
                return
            }
            // Keep the partial line at the front; grow only while it may still fit the limit.
            let partial = end - start
            if start > 0 {
                if partial > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, partial) }
                start = 0
                end = partial
            }
            if end == buffer.count {
                if partial > maxLineBytes {
                    skippedFrom = offset
                    offset += Int64(end)
                    start = 0
                    end = 0
                } else {
                    let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: min(buffer.count * 2, maxLineBytes + 1), alignment: 16)
                    grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<end]))
                    buffer.deallocate()
                    buffer = grown
                }
            }
            let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end..<buffer.count]))
            if n == 0 { eof = true } else { end += n }
        }
    }
}
