/// The agent → aggregator batch format, version 1 (docs/wire-format.md).
///
/// ```
/// batch   = magic "KTWB" · version u8 (1) · flags u8 (0) · node str · cluster str
///           · sourceCount uvarint · source* · recordCount uvarint · record*
/// source  = kind u8 · path str · identity str
/// record  = source uvarint · offset uvarint · length uvarint · bytes[length]
/// str     = length uvarint · UTF-8 bytes
/// ```
/// Integers are unsigned LEB128. Record bytes are exactly what was read from the file (any
/// bytes), without the final newline; a record may span several physical lines (a CRI P…F group).
public enum WireFormat {
    public static let magic: [UInt8] = Array("KTWB".utf8)
    public static let version: UInt8 = 1
    /// The most a record adds besides its bytes: three LEB128 varints of up to 10 bytes each.
    public static let maxRecordHeadBytes = 30

    public enum RecordKind: UInt8, Sendable, CaseIterable {
        case auditLine = 1
        case containerLogLine = 2
        /// The first bytes of an audit line longer than the agent's cap (the rest was not sent).
        case truncatedAuditLine = 3
        /// The first bytes of a container log record longer than the agent's cap.
        case truncatedContainerLogLine = 4

        /// The kind of a record cut at the agent's cap.
        public var truncated: RecordKind {
            switch self {
            case .auditLine, .truncatedAuditLine: return .truncatedAuditLine
            case .containerLogLine, .truncatedContainerLogLine: return .truncatedContainerLogLine
            }
        }
    }

    /// Limits checked against every declared length before anything is allocated or awaited.
    public struct Limits: Sendable {
        public var maxStringBytes = 4096
        public var maxSources = 4096
        public var maxRecords = 1_000_000
        public var maxRecordBytes = 64 << 20

        public init() {}
    }

    public struct Source: Sendable, Equatable, Hashable {
        public var kind: RecordKind
        public var path: String
        /// How the agent knows the file: device, inode and a fingerprint of its first bytes.
        public var identity: String

        public init(kind: RecordKind, path: String, identity: String) {
            self.kind = kind
            self.path = path
            self.identity = identity
        }
    }

    public struct Header: Sendable, Equatable {
        public var node: String
        public var cluster: String
        public var sources: [Source]
    }

    public struct Record {
        /// The batch's node, cluster and sources (what `source` indexes).
        public var header: Header
        public var source: Int
        public var offset: UInt64
        /// Valid only during the callback that delivers the record.
        public var bytes: UnsafeRawBufferPointer

        /// Offset just past this record's final newline: where the next record starts.
        public var nextOffset: UInt64 { offset &+ UInt64(bytes.count) &+ 1 }
    }
}

public enum WireFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic
    case unsupportedVersion(UInt8)
    case badFlags(UInt8)
    case truncated(expected: String)
    case varintTooLong
    case limitExceeded(what: String, declared: UInt64, limit: Int)
    case unknownKind(UInt8)
    case invalidUTF8(field: String)
    case badSourceIndex(UInt64, count: Int)
    case trailingBytes(Int)
    case offsetOutOfRange(UInt64)

    public var description: String {
        switch self {
        case .badMagic: return "not a kubetrail batch (bad magic)"
        case .unsupportedVersion(let v): return "unsupported batch version \(v)"
        case .badFlags(let f): return "unknown batch flags 0x\(String(f, radix: 16))"
        case .truncated(let what): return "batch ends inside \(what)"
        case .varintTooLong: return "malformed varint"
        case .limitExceeded(let what, let declared, let limit): return "\(what) declares \(declared), over the limit of \(limit)"
        case .unknownKind(let k): return "unknown record kind \(k)"
        case .invalidUTF8(let field): return "\(field) is not valid UTF-8"
        case .badSourceIndex(let i, let count): return "record refers to source \(i) of \(count)"
        case .trailingBytes(let n): return "\(n) bytes after the last record"
        case .offsetOutOfRange(let o): return "record offset \(o) is beyond any file"
        }
    }
}
