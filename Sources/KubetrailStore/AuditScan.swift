import CLibpq
import GRDBSQLite
import KubetrailTables

/// A column an audit scan reads (a contract column of `kubernetes_audit_logs`), and, for the big
/// ones, the verbs of the rows it is needed for: a request body only the rules about `create`
/// read is not read for the 60 % of rows that are `get` or `list`.
public struct AuditScanColumn: Sendable, Equatable {
    public var name: String
    /// Read only for rows of these verbs (lower case; the column is NULL on the others).
    public var onlyForVerbs: [String]?
    /// Read only by `AuditScanRow.value` for the rows that come out: SQLite reads it then, by
    /// rowid, instead of on every row.
    public var outputOnly: Bool

    public init(_ name: String, onlyForVerbs: [String]? = nil, outputOnly: Bool = false) {
        self.name = name
        self.onlyForVerbs = onlyForVerbs
        self.outputOnly = outputOnly
    }

    /// The contract's declared type of the column, as output formats read it.
    var queryColumn: QueryColumn {
        QueryColumn(name: name, declaredType: AuditLogRow.schema.columns.first { $0.name == name }?.type.sqliteDeclaration)
    }
}

/// One row of an audit scan, read in place from the engine's buffers; valid only during the
/// call that receives it. Cells are numbered as the scan's columns.
public struct AuditScanRow {
    let sqlite: StoreRow?
    let postgres: PostgresRow?
    /// Owned by the scan, which outlives its rows: no reference counting per cell read.
    unowned(unsafe) let scan: AuditScanState
    /// The scan's per-cell tables, copied once per row: a method called through `scan` retains
    /// it, and these are read for every cell a rule tests.
    private let interned: UnsafeMutableBufferPointer<Bool>
    private let position: UnsafeMutableBufferPointer<Int>
    private let converted: UnsafeMutableBufferPointer<Bool>
    private let interners: UnsafeMutableBufferPointer<Unmanaged<ValueInterner>?>
    private let number: Int

    init(sqlite: StoreRow?, postgres: PostgresRow?, scan: AuditScanState) {
        self.sqlite = sqlite
        self.postgres = postgres
        self.scan = scan
        interned = scan.interned
        position = scan.position
        converted = scan.converted
        interners = scan.interners
        number = scan.row
    }

    @inline(__always) private func isInterned(_ i: Int) -> Bool { i < interned.count && interned[i] }

    /// The cell's text as UTF-8 (a list as a JSON array of strings, a JSON document as JSON, an
    /// integer in decimal), or nil when it is NULL.
    public func withText<R>(_ i: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        if let row = sqlite {
            let at = position[i]
            if at < 0 {
                guard case .text(var text) = try scan.deferredValue(i, row) else { return try body(nil) }
                return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
            }
            if isInterned(i) {
                guard row.kind(at) != .null else { return try body(nil) }
                return try scan.withValue(column: i, id: row.int(at), body)
            }
            return try body(row.text(at))
        }
        let row = postgres!
        if row.isNull(i) { return try body(nil) }
        // Binary values are read as SQLite shows them: a list as a JSON array, a time in RFC 3339.
        guard converted[i] else { return try body(row.bytes(i)) }
        switch PostgresBinaryValues.value(row.bytes(i), type: scan.types[i]) {
        case .text(var text): return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        case .int(let n):
            var text = String(n)
            return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        default: return try body(row.bytes(i))
        }
    }

    /// An integer cell's value; nil when it is NULL or not an integer.
    public func integer(_ i: Int) -> Int64? {
        if let row = sqlite, !isInterned(i), position[i] >= 0 {
            switch row.kind(position[i]) {
            case .int: return row.int(position[i])
            case .null: return nil
            default: break
            }
        }
        if let row = postgres, converted[i] {
            return row.isNull(i) ? nil : PostgresBinaryValues.integer(row.bytes(i), type: scan.types[i])
        }
        return try? withText(i) { $0.flatMap(Self.decimal) }
    }

    /// `-?[0-9]+` as a 64-bit integer, without a String.
    static func decimal(_ b: UnsafeRawBufferPointer) -> Int64? {
        var i = 0, negative = false
        if b.first == UInt8(ascii: "-") { negative = true; i = 1 }
        guard i < b.count, b.count - i <= 18 else { return nil }
        var n: Int64 = 0
        while i < b.count {
            let d = b[i] &- 48
            guard d < 10 else { return nil }
            n = n * 10 + Int64(d)
            i += 1
        }
        return negative ? -n : n
    }

    /// For a column whose values are kept once in a dictionary (SQLite's interned columns), the
    /// value's id there: equal ids are equal values, so a test of one need not be repeated.
    public func valueID(_ i: Int) -> Int64? {
        guard let row = sqlite else {
            // PostgreSQL's values are numbered by the scan as they come (`ValueInterner`).
            guard i < interners.count, let interner = interners[i], let cells = postgres, !cells.isNull(i) else { return nil }
            return interner._withUnsafeGuaranteedRef { $0.id(cells.bytes(i), row: number) }
        }
        guard isInterned(i), row.kind(position[i]) != .null else { return nil }
        return row.int(position[i])
    }

    /// The cell as a value, for output.
    public func value(_ i: Int) throws -> QueryValue {
        if let row = sqlite {
            if position[i] < 0 { return try scan.deferredValue(i, row) }
            guard isInterned(i) else { return row.value(position[i]) }
            return try withText(i) { $0.map { .text(String(decoding: $0, as: UTF8.self)) } ?? .null }
        }
        let row = postgres!
        return row.isNull(i) ? .null : PostgresBinaryValues.value(row.bytes(i), type: scan.types[i])
    }
}

/// What a scan's rows share: PostgreSQL's column types, and SQLite's interned columns' values,
/// read by id from their dictionary once, then from memory (a dictionary has few values: at
/// most 46 per column in the fixtures' logs).
final class AuditScanState {
    /// PostgreSQL: the column types, and which cells are read from their binary form (all but text and json).
    var types: [UInt32] = [] {
        didSet {
            converted.deallocate()
            converted = .allocate(capacity: types.count)
            _ = converted.initialize(from: types.map { !PostgresBinaryValues.isPlainText($0) })
        }
    }
    private(set) var converted = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 0)
    /// PostgreSQL: the number of the current row, and the cells numbered by value (nil: not).
    var row = 0
    private(set) var interners = UnsafeMutableBufferPointer<Unmanaged<ValueInterner>?>.allocate(capacity: 0)
    private let lookups: [ReadOnlyConnection.ValueLookup?]
    private var cache: [[Int64: [UInt8]]]
    private static let maxCached = 4096
    /// Read for every cell of every row, so kept where reading costs no reference count (an
    /// array property is retained on each read): which cells are interned, and (SQLite) each
    /// cell's column in the statement, -1 for one read after, by rowid (the statement's last
    /// column), with `deferred`.
    let interned: UnsafeMutableBufferPointer<Bool>
    let position: UnsafeMutableBufferPointer<Int>
    private let deferred: ReadOnlyConnection.RowLookup?
    private let deferredIndex: [Int]
    private var deferredRow: (rowid: Int64, values: [QueryValue])?

    init(_ lookups: [ReadOnlyConnection.ValueLookup?] = [], position: [Int] = [], deferred: ReadOnlyConnection.RowLookup? = nil) {
        self.lookups = lookups
        interned = .allocate(capacity: lookups.count)
        _ = interned.initialize(from: lookups.map { $0 != nil })
        cache = Array(repeating: [:], count: lookups.count)
        self.position = .allocate(capacity: position.count)
        _ = self.position.initialize(from: position)
        self.deferred = deferred
        var index: [Int] = [], n = 0
        for p in position { index.append(p < 0 ? n : -1); if p < 0 { n += 1 } }
        deferredIndex = index
    }

    deinit {
        interned.deallocate()
        position.deallocate()
        for i in interners { i?.release() }
        interners.deallocate()
        converted.deallocate()
    }

    /// PostgreSQL: numbers the values of the cells `numbered` marks, as the rows come.
    func numberValues(_ numbered: [Bool]) {
        for i in interners { i?.release() }
        interners.deallocate()
        interners = .allocate(capacity: numbered.count)
        _ = interners.initialize(from: numbered.map { $0 ? Unmanaged.passRetained(ValueInterner()) : nil })
    }

    func deferredValue(_ i: Int, _ row: StoreRow) throws -> QueryValue {
        let rowid = row.int(row.count - 1)
        if deferredRow?.rowid != rowid {
            guard let values = try deferred!.values(rowid) else { throw StoreError.sql("audit row \(rowid) went away during the scan") }
            deferredRow = (rowid, values)
        }
        return deferredRow!.values[deferredIndex[i]]
    }

    func withValue<R>(column i: Int, id: Int64, _ body: (UnsafeRawBufferPointer?) throws -> R) throws -> R {
        if let bytes = cache[i][id] { return try bytes.withUnsafeBytes { try body($0) } }
        guard let bytes = try lookups[i]!.value(id) else {
            throw StoreError.sql("the audit table refers to value \(id), which its dictionary does not have")
        }
        if cache[i].count >= Self.maxCached { cache[i].removeAll(keepingCapacity: true) }
        cache[i][id] = bytes
        return try bytes.withUnsafeBytes { try body($0) }
    }
}
