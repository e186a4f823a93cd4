import KubetrailCore

/// The aggregator's answer to `POST /v1/ingest` (built by its `commitAndReply`):
/// `{"batch_id":"…","records":N,"duplicate":…,"stored":{…},"duplicates":N,"rejected":N,"rejections":[…]}`.
///
/// A 2xx status alone proves nothing: a proxy, a misrouted Service or an impostor can answer
/// `200 ok` without storing a byte. Only this document, naming the batch that was sent, lets
/// checkpoints move past it.
struct IngestReply: Equatable {
    var batchID: String
    var records: Int
    var duplicate: Bool
    var rejected: Int
    /// The first rejection as sent (raw JSON), for the log.
    var firstRejection: String?

    /// Why a reply does not acknowledge a batch.
    struct Refusal: Error, Equatable, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Parses the reply document; fields the agent does not need are validated and skipped.
    static func parse(_ body: [UInt8]) throws(Refusal) -> IngestReply {
        do {
            return try body.withUnsafeBytes { try decode($0) }
        } catch {
            throw Refusal("the reply is not the aggregator's JSON reply document (\(error))")
        }
    }

    /// The reply acknowledges exactly `batchID` with `records` records, or says why not.
    static func acknowledgement(of body: [UInt8], batchID: String, records: Int) throws(Refusal) -> IngestReply {
        let reply = try parse(body)
        guard reply.batchID == batchID else {
            throw Refusal("the reply acknowledges batch \"\(reply.batchID.prefix(64))\", not the batch sent (\(batchID))")
        }
        guard reply.records == records else {
            throw Refusal("the reply counts \(reply.records) records for batch \(batchID), which has \(records)")
        }
        return reply
    }

    private static func decode(_ raw: UnsafeRawBufferPointer) throws(JSONError) -> IngestReply {
        var scanner = JSONScanner(raw)
        try scanner.enterObject()
        var batchID: String?
        var records: Int64?
        var duplicate: Bool?
        var rejected: Int64?
        var firstRejection: String?
        var first = true
        while let key = try scanner.nextKey(&first) {
            if scanner.token(key, equals: "batch_id") {
                batchID = try scanner.readString()
            } else if scanner.token(key, equals: "records") {
                records = try scanner.readInt()
            } else if scanner.token(key, equals: "duplicate") {
                duplicate = try readBool(&scanner)
            } else if scanner.token(key, equals: "rejected") {
                rejected = try scanner.readInt()
            } else if scanner.token(key, equals: "rejections") {
                firstRejection = try readFirstElement(&scanner)
            } else {
                try scanner.skipValue()
            }
        }
        scanner.skipWhitespace()
        guard scanner.isAtEnd else { throw .trailingData(scanner.position) }
        guard let batchID, let records, let duplicate, let rejected, records >= 0, rejected >= 0,
              let count = Int(exactly: records), let refused = Int(exactly: rejected) else {
            throw .typeMismatch(expected: "batch_id, records, duplicate and rejected", 0x7D, scanner.position)
        }
        return IngestReply(batchID: batchID, records: count, duplicate: duplicate, rejected: refused, firstRejection: firstRejection)
    }

    private static func readBool(_ scanner: inout JSONScanner) throws(JSONError) -> Bool {
        let at = scanner.position
        switch scanner.peek() {
        case 0x74: try scanner.skipValue(); return true
        case 0x66: try scanner.skipValue(); return false
        case let c?: throw .typeMismatch(expected: "boolean", c, at)
        case nil: throw .unexpectedEnd(at)
        }
    }

    private static func readFirstElement(_ scanner: inout JSONScanner) throws(JSONError) -> String? {
        try scanner.enterArray()
        var first = true
        var firstElement: String?
        while try scanner.nextElement(&first) {
            let range = try scanner.skipValue(depth: 1)
            if firstElement == nil {
                firstElement = String(decoding: UnsafeRawBufferPointer(rebasing: scanner.bytes[range]), as: UTF8.self)
            }
        }
        return firstElement
    }
}
