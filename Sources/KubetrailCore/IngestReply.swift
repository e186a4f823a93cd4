/// The aggregator's answer to `POST /v1/ingest` (`docs/wire-format.md`, "The reply"): encoded
/// by the aggregator, decoded by the agent, which moves its checkpoints only for a reply that
/// names the batch it sent. A 2xx status alone proves nothing: a proxy, a misrouted Service or
/// an impostor can answer `200 ok` without storing a byte.
public struct IngestReply: Equatable, Sendable {
    /// The batch's id as the aggregator computed it from the batch (`WireBatchEncoder.batchID`).
    public var batchID: String?
    /// Records in the batch, stored or not.
    public var records: Int
    /// The batch was committed before (a resend after a lost reply): nothing stored again.
    public var duplicate: Bool
    public var storedAudit: Int
    public var storedPodLogs: Int
    /// Rows already stored (the same record in another batch).
    public var duplicates: Int
    /// Audit events that differ from a stored one under the same auditID and stage.
    public var conflicts: Int
    /// Records not stored, and the first of them in detail (the aggregator sends a few).
    public var rejected: Int
    public var rejections: [Rejection]

    public struct Rejection: Equatable, Sendable {
        public var reason: String
        public var path: String
        public var offset: UInt64
        public var detail: String

        public init(reason: String, path: String, offset: UInt64, detail: String) {
            self.reason = reason
            self.path = path
            self.offset = offset
            self.detail = detail
        }
    }

    public init(
        batchID: String?, records: Int, duplicate: Bool = false, storedAudit: Int = 0, storedPodLogs: Int = 0,
        duplicates: Int = 0, conflicts: Int = 0, rejected: Int = 0, rejections: [Rejection] = []
    ) {
        self.batchID = batchID
        self.records = records
        self.duplicate = duplicate
        self.storedAudit = storedAudit
        self.storedPodLogs = storedPodLogs
        self.duplicates = duplicates
        self.conflicts = conflicts
        self.rejected = rejected
        self.rejections = rejections
    }

    /// A rejection's detail is cut to this many characters in the reply.
    public static let maxDetailCharacters = 200

    /// The reply document, one JSON object.
    public func encoded() -> String {
        var out = "{\"batch_id\":" + (batchID.map(JSONText.string) ?? "null") + ",\"records\":\(records),\"duplicate\":\(duplicate)"
        out += ",\"stored\":{\"kubernetes_audit_logs\":\(storedAudit),\"kubernetes_pod_logs\":\(storedPodLogs)}"
        out += ",\"duplicates\":\(duplicates),\"conflicts\":\(conflicts),\"rejected\":\(rejected),\"rejections\":["
        out += rejections.map {
            "{\"reason\":\(JSONText.string($0.reason)),\"path\":\(JSONText.string($0.path)),\"offset\":\($0.offset),\"detail\":\(JSONText.string(String($0.detail.prefix(Self.maxDetailCharacters))))}"
        }.joined(separator: ",")
        return out + "]}"
    }

    /// Reads a reply document. Unknown keys are skipped (a newer aggregator may add some);
    /// `batch_id`, `records`, `duplicate` and `rejected` are required, counts are never negative,
    /// and nothing may follow the object.
    public static func decode(_ bytes: [UInt8]) throws(JSONError) -> IngestReply {
        try bytes.withUnsafeBytes { raw in Result { () throws(JSONError) in try decode(raw) } }.get()
    }

    public static func decode(_ raw: UnsafeRawBufferPointer) throws(JSONError) -> IngestReply {
        var scanner = JSONScanner(raw)
        try scanner.enterObject()
        var batchID: String?, hasBatchID = false
        var records: Int?, duplicate: Bool?, rejected: Int?
        var reply = IngestReply(batchID: nil, records: 0)
        var first = true
        while let key = try scanner.nextKey(&first) {
            if scanner.token(key, equals: "batch_id") {
                batchID = try scanner.readString()
                hasBatchID = true
            } else if scanner.token(key, equals: "records") {
                records = try count(&scanner)
            } else if scanner.token(key, equals: "duplicate") {
                duplicate = try bool(&scanner)
            } else if scanner.token(key, equals: "rejected") {
                rejected = try count(&scanner)
            } else if scanner.token(key, equals: "duplicates") {
                reply.duplicates = try count(&scanner) ?? 0
            } else if scanner.token(key, equals: "conflicts") {
                reply.conflicts = try count(&scanner) ?? 0
            } else if scanner.token(key, equals: "stored") {
                try stored(&scanner, into: &reply)
            } else if scanner.token(key, equals: "rejections") {
                reply.rejections = try rejections(&scanner)
            } else {
                try scanner.skipValue()
            }
        }
        scanner.skipWhitespace()
        guard scanner.isAtEnd else { throw .trailingData(scanner.position) }
        guard hasBatchID, let records, let duplicate, let rejected else {
            throw .typeMismatch(expected: "batch_id, records, duplicate and rejected", 0x7D, scanner.position)
        }
        reply.batchID = batchID
        reply.records = records
        reply.duplicate = duplicate
        reply.rejected = rejected
        return reply
    }

    private static func count(_ scanner: inout JSONScanner) throws(JSONError) -> Int? {
        let at = scanner.position
        guard let n = try scanner.readInt() else { return nil }
        guard n >= 0, let count = Int(exactly: n) else { throw .typeMismatch(expected: "a count (0 or more)", 0x2D, at) }
        return count
    }

    private static func bool(_ scanner: inout JSONScanner) throws(JSONError) -> Bool {
        let at = scanner.position
        switch scanner.peek() {
        case 0x74: try scanner.skipValue(); return true
        case 0x66: try scanner.skipValue(); return false
        case let c?: throw .typeMismatch(expected: "boolean", c, at)
        case nil: throw .unexpectedEnd(at)
        }
    }

    private static func stored(_ scanner: inout JSONScanner, into reply: inout IngestReply) throws(JSONError) {
        try scanner.enterObject()
        var first = true
        while let key = try scanner.nextKey(&first) {
            if scanner.token(key, equals: "kubernetes_audit_logs") {
                reply.storedAudit = try count(&scanner) ?? 0
            } else if scanner.token(key, equals: "kubernetes_pod_logs") {
                reply.storedPodLogs = try count(&scanner) ?? 0
            } else {
                try scanner.skipValue()
            }
        }
    }

    private static func rejections(_ scanner: inout JSONScanner) throws(JSONError) -> [Rejection] {
        try scanner.enterArray()
        var out: [Rejection] = []
        var first = true
        while try scanner.nextElement(&first) {
            try scanner.enterObject()
            var r = Rejection(reason: "", path: "", offset: 0, detail: "")
            var firstKey = true
            while let key = try scanner.nextKey(&firstKey) {
                if scanner.token(key, equals: "reason") {
                    r.reason = try scanner.readString() ?? ""
                } else if scanner.token(key, equals: "path") {
                    r.path = try scanner.readString() ?? ""
                } else if scanner.token(key, equals: "detail") {
                    r.detail = try scanner.readString() ?? ""
                } else if scanner.token(key, equals: "offset") {
                    r.offset = UInt64(try count(&scanner) ?? 0)
                } else {
                    try scanner.skipValue()
                }
            }
            out.append(r)
        }
        return out
    }
}
