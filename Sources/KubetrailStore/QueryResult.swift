import KubetrailTables

public struct QueryColumn: Sendable, Equatable {
    public var name: String
    /// The declared type when the column is a table column (e.g. `JSON TEXT`), else nil.
    public var declaredType: String?

    public init(name: String, declaredType: String? = nil) {
        self.name = name
        self.declaredType = declaredType
    }

    public var isJSON: Bool { declaredType.map { $0.hasPrefix("JSON") || $0.hasPrefix("LIST") } ?? false }
    public var isBoolean: Bool { declaredType?.hasPrefix("BOOLEAN") ?? false }
}

public enum QueryValue: Sendable, Equatable {
    case null
    case int(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// Receives one or more result sets, row by row, so nothing has to hold a whole result.
public protocol QuerySink {
    func begin(columns: [QueryColumn]) throws
    func row(_ values: [QueryValue]) throws
    func end() throws
}
