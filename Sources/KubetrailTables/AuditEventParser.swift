/// Turns one audit JSON document into rows, in a single validating pass over its bytes.
///
/// Accepts `audit.k8s.io/v1`, `v1beta1` (`timestamp`, `metadata.creationTimestamp`) and events
/// without `apiVersion`; and recognises the wrappers people feed in place of an event: an
/// `EventList` (the webhook body), an AKS Event Hub export `{"records":[…]}` and a single AKS
/// record, so callers need not know which they hold.
public enum AuditEventParser {
    public enum Parsed {
        case event(AuditLogRow)
        case eventList(items: Range<Int>)
        case records(Range<Int>)
        case aksRecord(AKSRecord)
    }

    public struct AKSRecord {
        public var category: String?
        /// The audit event: the bytes of `properties.log` (a JSON string, decoded, or an object).
        public var log: [UInt8]?
        public var pod: String?
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer, context: IngestContext) throws(AuditParseError) -> Parsed {
        var s = JSONScanner(bytes)
        var e = Fields()
        do {
            if s.peek() == 0xEF, bytes.count >= 3, bytes[1] == 0xBB, bytes[2] == 0xBF {
                s = JSONScanner(bytes, position: 3)
            }
            guard s.peek() == 0x7B else {
                throw AuditParseError.notAnObject
            }
            try s.enterObject()
            var first = true
            while let key = try s.nextKey(&first) {
                try e.read(key: key, from: &s)
            }
            s.skipWhitespace()
            guard s.isAtEnd else { throw JSONError.trailingData(s.position) }
        } catch let error as JSONError {
            throw .json(error)
        } catch let error as AuditParseError {
            throw error
        } catch {
            throw .json(.unexpectedEnd(0))
        }

        if e.auditID == nil {
            if let items = e.items, e.kind == nil || e.kind == "EventList" { return .eventList(items: items) }
            if let records = e.records { return .records(records) }
            if let properties = e.properties {
                return .aksRecord(try aksRecord(properties: properties, category: e.category, in: bytes))
            }
        }
        if let kind = e.kind, kind != "Event" { throw .wrongKind(kind) }
        if e.kindWasNotString { throw .wrongKind("(not a string)") }
        return .event(try e.row(context: context))
    }

    private static func aksRecord(properties: Range<Int>, category: String?, in bytes: UnsafeRawBufferPointer) throws(AuditParseError) -> AKSRecord {
        var s = JSONScanner(UnsafeRawBufferPointer(rebasing: bytes[properties]))
        var record = AKSRecord(category: category)
        do {
            try s.enterObject()
            var first = true
            while let key = try s.nextKey(&first) {
                if s.token(key, equals: "log") {
                    switch s.peek() {
                    case 0x22: record.log = Array(s.string(try s.readStringToken()).utf8)
                    case 0x7B:
                        let r = try s.skipValue()
                        record.log = Array(UnsafeRawBufferPointer(rebasing: s.bytes[r]))
                    default: try s.skipValue()
                    }
                } else if s.token(key, equals: "pod") {
                    record.pod = try s.readString()
                } else {
                    try s.skipValue()
                }
            }
        } catch {
            throw .json(error)
        }
        return record
    }

    /// What one pass collects; kept as plain optionals so the pass never allocates for keys.
    struct Fields {
        var kind: String?
        var kindWasNotString = false
        var auditID: String?
        var stage: String?
        var level: String?
        var stageTimestamp: Timestamp?
        var requestReceivedTimestamp: Timestamp?
        var legacyTimestamp: Timestamp?
        var creationTimestamp: Timestamp?
        var verb: String?
        var requestURI: String?
        var userAgent: String?
        var user = User()
        var impersonated: User?
        var sourceIPs: [String]?
        var objectRef = ObjectRef()
        var responseCode: Int64?
        var responseStatus: String?
        var responseReason: String?
        var responseMessage: String?
        var annotations: String?
        var decision: String?
        var reason: String?
        var requestObject: String?
        var responseObject: String?
        // Wrapper markers
        var items: Range<Int>?
        var records: Range<Int>?
        var properties: Range<Int>?
        var category: String?

        struct User { var name: String?; var uid: String?; var groups: [String]?; var extra: String? }
        struct ObjectRef {
            var resource, subresource, namespace, name, apiGroup, apiVersion, uid, resourceVersion: String?
        }

        mutating func read(key: JSONStringToken, from s: inout JSONScanner) throws {
            // Dispatch on the key's length as decoded: an escaped key is longer in the bytes.
            switch key.hasEscapes ? s.string(key).utf8.count : key.range.count {
            case 4:
                if s.token(key, equals: "kind") {
                    if s.peek() == 0x22 || s.peek() == 0x6E { kind = try s.readString() } else { kindWasNotString = true; try s.skipValue() }
                    return
                }
                if s.token(key, equals: "verb") { verb = try s.readString(); return }
                if s.token(key, equals: "user") { user = try readUser(&s); return }
            case 5:
                if s.token(key, equals: "level") { level = try s.readString(); return }
                if s.token(key, equals: "stage") { stage = try s.readString(); return }
                if s.token(key, equals: "items") { if s.peek() == 0x5B { items = try s.skipValue() } else { try s.skipValue() }; return }
            case 7:
                if s.token(key, equals: "auditID") { auditID = try s.readString(); return }
                if s.token(key, equals: "records") { if s.peek() == 0x5B { records = try s.skipValue() } else { try s.skipValue() }; return }
            case 8:
                if s.token(key, equals: "metadata") { try readMetadata(&s); return }
                if s.token(key, equals: "category") {
                    if s.peek() == 0x22 { category = try s.readString() } else { try s.skipValue() }
                    return
                }
            case 9:
                if s.token(key, equals: "sourceIPs") { sourceIPs = try s.readStringArray(); return }
                if s.token(key, equals: "userAgent") { userAgent = try s.readString(); return }
                if s.token(key, equals: "timestamp") { legacyTimestamp = try readTimestamp(&s, "timestamp"); return }
                if s.token(key, equals: "objectRef") { try readObjectRef(&s); return }
            case 10:
                if s.token(key, equals: "requestURI") { requestURI = try s.readString(); return }
                if s.token(key, equals: "properties") { if s.peek() == 0x7B { properties = try s.skipValue() } else { try s.skipValue() }; return }
            case 11:
                if s.token(key, equals: "annotations") { try readAnnotations(&s); return }
            case 13:
                if s.token(key, equals: "requestObject") { requestObject = try s.readRawValue(); return }
            case 14:
                if s.token(key, equals: "stageTimestamp") { stageTimestamp = try readTimestamp(&s, "stageTimestamp"); return }
                if s.token(key, equals: "responseStatus") { try readResponseStatus(&s); return }
                if s.token(key, equals: "responseObject") { responseObject = try s.readRawValue(); return }
            case 16:
                if s.token(key, equals: "impersonatedUser") {
                    if try s.consumeNull() { impersonated = nil } else { impersonated = try readUser(&s) }
                    return
                }
            case 24:
                if s.token(key, equals: "requestReceivedTimestamp") {
                    requestReceivedTimestamp = try readTimestamp(&s, "requestReceivedTimestamp"); return
                }
            default: break
            }
            try s.skipValue()
        }

        func readTimestamp(_ s: inout JSONScanner, _ field: String) throws -> Timestamp? {
            guard let text = try s.readString(), !text.isEmpty else { return nil }
            guard let t = Timestamp(rfc3339: text) else { throw AuditParseError.invalidTimestamp(field: field, value: text) }
            return t
        }

        func readUser(_ s: inout JSONScanner) throws -> User {
            var u = User()
            if try s.consumeNull() { return u }
            try s.enterObject()
            var first = true
            while let key = try s.nextKey(&first) {
                if s.token(key, equals: "username") {
                    u.name = try s.readString()
                } else if s.token(key, equals: "uid") {
                    u.uid = try s.readString()
                } else if s.token(key, equals: "groups") {
                    u.groups = try s.readStringArray()
                } else if s.token(key, equals: "extra") {
                    u.extra = try s.readRawValue()
                } else {
                    try s.skipValue()
                }
            }
            return u
        }

        mutating func readMetadata(_ s: inout JSONScanner) throws {
            if try s.consumeNull() { return }
            try s.enterObject()
            var first = true
            while let key = try s.nextKey(&first) {
                if s.token(key, equals: "creationTimestamp") {
                    creationTimestamp = try readTimestamp(&s, "metadata.creationTimestamp")
                } else {
                    try s.skipValue()
                }
            }
        }

        mutating func readObjectRef(_ s: inout JSONScanner) throws {
            if try s.consumeNull() { return }
            try s.enterObject()
            var first = true
            while let key = try s.nextKey(&first) {
                if s.token(key, equals: "resource") {
                    objectRef.resource = try s.readString()
                } else if s.token(key, equals: "namespace") {
                    objectRef.namespace = try s.readString()
                } else if s.token(key, equals: "name") {
                    objectRef.name = try s.readString()
                } else if s.token(key, equals: "apiVersion") {
                    objectRef.apiVersion = try s.readString()
                } else if s.token(key, equals: "apiGroup") {
                    objectRef.apiGroup = try s.readString()
                } else if s.token(key, equals: "subresource") {
                    objectRef.subresource = try s.readString()
                } else if s.token(key, equals: "uid") {
                    objectRef.uid = try s.readString()
                } else if s.token(key, equals: "resourceVersion") {
                    objectRef.resourceVersion = try s.readString()
                } else {
                    try s.skipValue()
                }
            }
        }

        mutating func readResponseStatus(_ s: inout JSONScanner) throws {
            if try s.consumeNull() { return }
            try s.enterObject()
            var first = true
            while let key = try s.nextKey(&first) {
                if s.token(key, equals: "code") {
                    responseCode = try s.readInt()
                } else if s.token(key, equals: "status") {
                    responseStatus = try s.readString()
                } else if s.token(key, equals: "reason") {
                    responseReason = try s.readString()
                } else if s.token(key, equals: "message") {
                    responseMessage = try s.readString()
                } else {
                    try s.skipValue()
                }
            }
        }

        mutating func readAnnotations(_ s: inout JSONScanner) throws {
            if try s.consumeNull() { return }
            let start = s.position
            try s.enterObject()
            var first = true
            while let key = try s.nextKey(&first) {
                if s.token(key, equals: "authorization.k8s.io/decision") {
                    decision = try s.readString()
                } else if s.token(key, equals: "authorization.k8s.io/reason") {
                    reason = try s.readString()
                } else {
                    try s.skipValue()
                }
            }
            var raw = UnsafeRawBufferPointer(rebasing: s.bytes[start..<s.position])
            while let c = raw.first, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { raw = UnsafeRawBufferPointer(rebasing: raw[1...]) }
            annotations = String(decoding: raw, as: UTF8.self)
        }

        func row(context: IngestContext) throws(AuditParseError) -> AuditLogRow {
            guard let auditID, !auditID.isEmpty else { throw .missingField("auditID") }
            guard let stage, !stage.isEmpty else { throw .missingField("stage") }
            guard let when = stageTimestamp ?? creationTimestamp ?? requestReceivedTimestamp ?? legacyTimestamp else {
                throw .missingField("stageTimestamp")
            }
            var common = CommonFields(id: auditID + ":" + stage, timestamp: when, table: AuditLogRow.tableName, context: context)
            common.sourceIP = sourceIPs?.first
            common.ips = sourceIPs ?? []
            if let uid = objectRef.uid, !uid.isEmpty { common.akas = [uid] }
            var names: [String] = []
            if let n = user.name, !n.isEmpty { names.append(n) }
            if let n = impersonated?.name, !n.isEmpty, !names.contains(n) { names.append(n) }
            common.usernames = names
            common.collectEmails(from: names)
            let withheld = CredentialBodies.carriesCredentials(resource: objectRef.resource, subresource: objectRef.subresource)
            return AuditLogRow(
                common: common, auditID: auditID, stage: stage, level: level,
                stageTimestamp: when,
                requestReceivedTimestamp: requestReceivedTimestamp ?? legacyTimestamp,
                verb: verb, requestURI: requestURI, userAgent: userAgent,
                userName: user.name, userUID: user.uid, userGroups: user.groups, userExtra: user.extra,
                impersonatedUserName: impersonated?.name, impersonatedUserGroups: impersonated?.groups,
                sourceIPs: sourceIPs,
                resource: objectRef.resource, subresource: objectRef.subresource,
                namespace: objectRef.namespace, name: objectRef.name,
                apiGroup: objectRef.apiGroup, apiVersion: objectRef.apiVersion,
                objectUID: objectRef.uid, objectResourceVersion: objectRef.resourceVersion,
                responseCode: responseCode, responseStatus: responseStatus,
                responseReason: responseReason, responseMessage: responseMessage,
                authorizationDecision: decision, authorizationReason: reason,
                annotations: annotations, requestObject: withheld ? nil : requestObject, responseObject: withheld ? nil : responseObject,
                clusterName: context.clusterName)
        }
    }
}

public enum AuditParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case json(JSONError)
    case notAnObject
    case wrongKind(String)
    case missingField(String)
    case invalidTimestamp(field: String, value: String)

    public var description: String {
        switch self {
        case .json(let e): return e.description
        case .notAnObject: return "not an audit event: expected a JSON object"
        case .wrongKind(let k): return "not an audit event: kind is \(k)"
        case .missingField(let f): return "audit event without \(f)"
        case .invalidTimestamp(let f, let v): return "invalid \(f) '\(v.prefix(40))'"
        }
    }

    /// A short stable label for summaries and metrics.
    public var reason: String {
        switch self {
        case .json: return "malformed JSON"
        case .notAnObject: return "not a JSON object"
        case .wrongKind: return "not an audit event"
        case .missingField(let f): return "missing \(f)"
        case .invalidTimestamp: return "invalid timestamp"
        }
    }
}
