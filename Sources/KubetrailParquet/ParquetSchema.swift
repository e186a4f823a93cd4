/// The column shapes kubetrail writes, each mapped to one Parquet physical and logical type.
public enum ParquetColumnKind: Sendable, Equatable {
    /// BYTE_ARRAY, logical STRING (also used for JSON documents, kept as text).
    case string
    /// INT64, logical INT(64, signed).
    case int64
    case boolean
    /// INT64, logical TIMESTAMP(UTC, MICROS).
    case timestampMicros
    /// INT32, logical DATE (days since 1970-01-01).
    case date
    /// The three-level LIST of optional STRING elements.
    case stringList
}

public struct ParquetColumn: Sendable, Equatable {
    public var name: String
    public var kind: ParquetColumnKind
    public var nullable: Bool

    public init(name: String, kind: ParquetColumnKind, nullable: Bool = true) {
        self.name = name
        self.kind = kind
        self.nullable = nullable
    }

    /// Levels of the leaf: lists add the repeated group (and its optional element).
    var maxDefinitionLevel: Int { kind == .stringList ? (nullable ? 3 : 2) : (nullable ? 1 : 0) }
    var maxRepetitionLevel: Int { kind == .stringList ? 1 : 0 }
    var pathInSchema: [String] { kind == .stringList ? [name, "list", "element"] : [name] }

    var physicalType: PhysicalType {
        switch kind {
        case .string, .stringList: return .byteArray
        case .int64, .timestampMicros: return .int64
        case .boolean: return .boolean
        case .date: return .int32
        }
    }
}

/// Parquet's enums, by the numbers parquet.thrift gives them.
enum PhysicalType: Int32 { case boolean = 0, int32 = 1, int64 = 2, byteArray = 6 }
enum Encoding: Int32 { case plain = 0, rle = 3, rleDictionary = 8 }
enum PageType: Int32 { case dataPage = 0, dictionaryPage = 2 }
enum Repetition: Int32 { case required = 0, optional = 1, repeated = 2 }
enum ConvertedType: Int32 { case utf8 = 0, list = 3, date = 6, timestampMicros = 10, int64 = 18 }

public enum ParquetCompression: String, Sendable, CaseIterable {
    case zstd, gzip, none

    var codec: Int32 {
        switch self {
        case .none: return 0
        case .gzip: return 2
        case .zstd: return 6
        }
    }
}

public struct ParquetError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}
