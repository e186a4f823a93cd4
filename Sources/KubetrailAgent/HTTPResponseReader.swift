/// Reads one HTTP/1.x response from a channel: the status line and headers (at most 64 KiB),
/// interim 1xx answers skipped, then a body framed by `Content-Length`, `chunked` or the end of
/// the connection. The body is kept up to a limit (replies are small JSON documents); a larger
/// one is cut there and the connection not used again.
struct HTTPResponseReader {
    static let maxHeadBytes = 64 << 10

    struct Reply {
        var status: Int
        /// Names lower-cased; a repeated header's values joined with ", ".
        var headers: [String: String]
        var body: [UInt8]
        /// False when the connection must not carry another request.
        var reusable: Bool
    }

    private let channel: ByteChannel
    private let deadline: Double
    private let bodyLimit: Int
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    /// False until the first byte of a reply arrives: a kept-alive connection the server closed
    /// before answering can be retried on a fresh one, since nothing was processed.
    private(set) var receivedAny = false

    init(channel: ByteChannel, deadline: Double, bodyLimit: Int) {
        self.channel = channel
        self.deadline = deadline
        self.bodyLimit = bodyLimit
        buffer = [UInt8](repeating: 0, count: 16 << 10)
    }

    mutating func read() throws(TransportFailure) -> Reply {
        while true {
            let (status, version, headers) = try readHead()
            if (100..<200).contains(status) && status != 101 { continue }
            var reusable = version != "HTTP/1.0" && !(headers["connection"]?.lowercased().contains("close") ?? false)
            var body: [UInt8] = []
            if status == 204 || status == 304 || status == 101 {
                // no body
            } else if let coding = headers["transfer-encoding"] {
                guard coding.lowercased().split(separator: ",").last?.trimmingSpaces() == "chunked" else {
                    throw Self.malformed("transfer coding \(coding) is not chunked")
                }
                reusable = try readChunked(into: &body) && reusable
            } else if let lengthText = headers["content-length"] {
                let values = Set(lengthText.split(separator: ",").map { $0.trimmingSpaces() })
                guard values.count == 1, let length = Int(values.first!), length >= 0 else {
                    throw Self.malformed("bad Content-Length \(lengthText)")
                }
                reusable = try readExactly(length, into: &body) && reusable
            } else {
                try readToEnd(into: &body)
                reusable = false
            }
            // Bytes nobody asked for: the connection's state is unknown.
            if end > start { reusable = false }
            return Reply(status: status, headers: headers, body: body, reusable: reusable)
        }
    }

    // MARK: - head

    private mutating func readHead() throws(TransportFailure) -> (Int, String, [String: String]) {
        while true {
            if let headEnd = Self.headEnd(in: buffer, from: start, to: end) {
                let lines = buffer[start..<headEnd].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
                    String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
                }
                start = headEnd
                return try Self.parseHead(lines.filter { !$0.isEmpty })
            }
            guard end - start < Self.maxHeadBytes else { throw Self.malformed("reply headers are longer than 64 KiB") }
            guard try fill() else {
                throw TransportFailure(
                    receivedAny ? "connection closed in the middle of the reply's headers" : "connection closed before a reply", retryable: true)
            }
        }
    }

    /// The index just past the blank line that ends a head (`\n\n` or `\n\r\n`).
    private static func headEnd(in bytes: [UInt8], from: Int, to: Int) -> Int? {
        var i = from
        while i < to {
            if bytes[i] == UInt8(ascii: "\n") {
                if i + 1 < to && bytes[i + 1] == UInt8(ascii: "\n") { return i + 2 }
                if i + 2 < to && bytes[i + 1] == UInt8(ascii: "\r") && bytes[i + 2] == UInt8(ascii: "\n") { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    private static func parseHead(_ lines: [String]) throws(TransportFailure) -> (Int, String, [String: String]) {
        guard let statusLine = lines.first else { throw malformed("empty reply") }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0] == "HTTP/1.1" || parts[0] == "HTTP/1.0", parts[1].count == 3, let status = Int(parts[1]),
            (100...599).contains(status)
        else {
            throw TransportFailure("not an HTTP reply: \(PeerText.excerpt(statusLine, hiding: nil, limit: 120))", retryable: false)
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw malformed("header line without a name: \(PeerText.excerpt(line, hiding: nil, limit: 120))")
            }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces()
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        return (status, String(parts[0]), headers)
    }

    // MARK: - body

    /// False when the body was cut at the limit (the rest left unread).
    private mutating func readExactly(_ length: Int, into body: inout [UInt8]) throws(TransportFailure) -> Bool {
        var left = length
        while left > 0 {
            if start == end {
                guard try fill() else { throw TransportFailure("connection closed with \(left) of \(length) reply bytes unread", retryable: true) }
            }
            let take = min(left, end - start)
            keep(start..<start + take, into: &body)
            start += take
            left -= take
            if body.count >= bodyLimit && left > 0 { return false }
        }
        return true
    }

    private mutating func readChunked(into body: inout [UInt8]) throws(TransportFailure) -> Bool {
        while true {
            let sizeLine = try line()
            let sizeText = sizeLine.prefix { $0 != ";" }.trimmingSpaces()
            guard let size = Int(sizeText, radix: 16), size >= 0 else { throw Self.malformed("bad chunk size \(sizeLine.prefix(40))") }
            if size == 0 {
                while try !line().isEmpty {}  // trailers
                return true
            }
            guard try readExactly(size, into: &body) else { return false }
            guard try line().isEmpty else { throw Self.malformed("chunk not followed by a line break") }
        }
    }

    private mutating func readToEnd(into body: inout [UInt8]) throws(TransportFailure) {
        repeat {
            keep(start..<end, into: &body)
            start = end
            if body.count >= bodyLimit { return }
        } while try fill()
    }

    /// One line of a chunked body, without its line break; at most 4 KiB.
    private mutating func line() throws(TransportFailure) -> String {
        while true {
            if let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
                let raw = buffer[start..<newline]
                start = newline + 1
                return String(decoding: raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw, as: UTF8.self)
            }
            guard end - start < 4096 else { throw Self.malformed("chunk header longer than 4 KiB") }
            guard try fill() else { throw TransportFailure("connection closed in the middle of a chunked reply", retryable: true) }
        }
    }

    private func keep(_ range: Range<Int>, into body: inout [UInt8]) {
        let room = bodyLimit - body.count
        if room > 0 { body.append(contentsOf: buffer[range.lowerBound..<min(range.upperBound, range.lowerBound + room)]) }
    }

    /// Reads more bytes after those unconsumed; false at the end of the stream.
    private mutating func fill() throws(TransportFailure) -> Bool {
        if start > 0 {
            // The regions may overlap: `update(from:count:)` copies as memmove does.
            buffer.withUnsafeMutableBufferPointer { b in b.baseAddress!.update(from: b.baseAddress! + start, count: end - start) }
            end -= start
            start = 0
        }
        if end == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
        var n = 0
        var failure: TransportFailure?
        buffer.withUnsafeMutableBytes { raw in
            do throws(TransportFailure) {
                n = try channel.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[end...]), deadline: deadline)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        if n > 0 { receivedAny = true }
        end += n
        return n > 0
    }

    private static func malformed(_ what: String) -> TransportFailure {
        TransportFailure("malformed HTTP reply: \(what)", retryable: false)
    }
}
