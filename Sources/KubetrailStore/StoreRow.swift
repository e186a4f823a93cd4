import GRDBSQLite

/// The current row of a running query, read in place from SQLite's buffers: no Swift String
/// per cell. Valid only during the `row(raw:)` call that receives it.
public struct StoreRow {
    public enum Kind { case null, int, real, text, blob }

    let stmt: OpaquePointer
    public let count: Int

    public func kind(_ i: Int) -> Kind {
        switch sqlite3_column_type(stmt, Int32(i)) {
        case SQLITE_NULL: return .null
        case SQLITE_INTEGER: return .int
        case SQLITE_FLOAT: return .real
        case SQLITE_BLOB: return .blob
        default: return .text
        }
    }

    public func int(_ i: Int) -> Int64 { sqlite3_column_int64(stmt, Int32(i)) }

    /// A text or blob cell's bytes (text as UTF-8, without a terminator).
    public func bytes(_ i: Int) -> UnsafeRawBufferPointer {
        let isBlob = sqlite3_column_type(stmt, Int32(i)) == SQLITE_BLOB
        let p: UnsafeRawPointer? = isBlob ? sqlite3_column_blob(stmt, Int32(i)) : sqlite3_column_text(stmt, Int32(i)).map(UnsafeRawPointer.init)
        let n = Int(sqlite3_column_bytes(stmt, Int32(i)))
        return UnsafeRawBufferPointer(start: p, count: p == nil ? 0 : n)
    }

    /// A cell's text (UTF-8, no terminator), nil when it is NULL; one call fewer than `kind` and `bytes`.
    func text(_ i: Int) -> UnsafeRawBufferPointer? {
        guard let p = sqlite3_column_text(stmt, Int32(i)) else { return nil }
        return UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, Int32(i))))
    }

    /// The cell as a value (allocates for text and blobs).
    public func value(_ i: Int) -> QueryValue { ReadOnlyConnection.value(stmt, Int32(i)) }
}

/// A sink that can read rows in place; `run` prefers `row(raw:)` over `row(_:)` for it.
public protocol RawQuerySink: QuerySink {
    func row(raw: StoreRow) throws
}
