import GRDBSQLite

/// Read transactions on several connections that see one snapshot of a database others may be
/// writing, as PostgreSQL's `pg_export_snapshot` gives its parallel scan. SQLite's own snapshot
/// API (`sqlite3_snapshot_open`) is not built into Debian's library, so the write lock is held —
/// `BEGIN IMMEDIATE`, nothing written, rolled back — while each connection starts its read: no
/// commit can fall between them. The lock is held for as long as that takes (microseconds); a
/// writer that wants it meanwhile waits on its busy timeout.
enum SQLiteSharedSnapshot {
    /// Starts a read transaction on each connection, all on the same snapshot. False when the
    /// write lock cannot be had (a file or directory this user cannot write, a writer holding it
    /// past the busy timeout): then no connection has begun, and the caller reads over one.
    static func begin(_ connections: [ReadOnlyConnection], path: String) throws -> Bool {
        var handle: OpaquePointer?
        defer { sqlite3_close_v2(handle) }
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let handle else { return false }
        sqlite3_busy_timeout(handle, 10_000)
        guard sqlite3_exec(handle, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK else { return false }
        defer { sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
        for c in connections { try c.beginSnapshot() }
        return true
    }
}
