import KubetrailCore
import KubetrailTables

/// Where a follower stopped in one table's change journal, as text it can keep and send back:
/// `kt1.<store>.<table>.<position>.<ordinal>[.<snapshot>]`.
///
/// SQLite's position is the journal's sequence (ordinal 0). PostgreSQL's is the writing
/// transaction's id (`xid8`) and the entry's ordinal; `snapshot` is the snapshot the history
/// part of a follow was read in, whose transactions' entries are already shown — kept until the
/// position passes its `xmax`, after which no entry can be visible in it.
public struct TailCursor: Equatable, Sendable, CustomStringConvertible {
    public var store: String
    public var table: Int
    public var position: UInt64
    public var ordinal: Int64
    public var snapshot: String?

    public init(store: String, table: Int, position: UInt64, ordinal: Int64 = 0, snapshot: String? = nil) {
        self.store = store
        self.table = table
        self.position = position
        self.ordinal = ordinal
        self.snapshot = snapshot
    }

    public var description: String {
        "kt1.\(store).\(table).\(position).\(ordinal)" + (snapshot.map { "." + $0 } ?? "")
    }

    /// Parses a cursor's text; nil when it is not one.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5 || parts.count == 6, parts[0] == "kt1", !parts[1].isEmpty,
            parts[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
            let table = Int(parts[2]), let position = UInt64(parts[3]), let ordinal = Int64(parts[4])
        else { return nil }
        var snapshot: String?
        if parts.count == 6 {
            // xmin:xmax:xip,… — digits, colons and commas only, as it goes into SQL as a literal.
            guard Self.isSnapshot(parts[5]) else { return nil }
            snapshot = String(parts[5])
        }
        self.init(store: String(parts[1]), table: table, position: position, ordinal: ordinal, snapshot: snapshot)
    }

    static func isSnapshot(_ s: Substring) -> Bool {
        let fields = s.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3, UInt64(fields[0]) != nil, UInt64(fields[1]) != nil else { return false }
        return fields[2].isEmpty || fields[2].split(separator: ",", omittingEmptySubsequences: false).allSatisfy { UInt64($0) != nil }
    }

    /// The snapshot's `xmax`: every transaction from it on started after the snapshot.
    var snapshotXmax: UInt64? {
        guard let snapshot else { return nil }
        return UInt64(snapshot.split(separator: ":")[1])
    }
}

/// What one page of a follow reads.
public struct TailRequest: Sendable {
    public enum Start: Sendable {
        /// Rows whose time is at or after this (in time order), then changes from then on; nil:
        /// changes from now on only.
        case since(Timestamp?)
        /// Changes after a cursor.
        case after(TailCursor)
    }
    public var table: TableSchema
    /// A `--where` condition, checked by `SQLCondition` and run in the store's SQL.
    public var condition: String?
    public var start: Start
    /// Journal entries read per page: what bounds one page's work when the condition matches
    /// few rows.
    public var maxEntries: Int
    public var limits: QueryLimits
    /// Compile the condition even when the page has no row to run it on: a follow's first
    /// page, so a bad filter fails before anything is streamed.
    public var checkCondition = true

    /// The statement that compiles the condition and reads nothing.
    var conditionCheck: String? {
        guard checkCondition, let condition else { return nil }
        return "SELECT * FROM \(quoteIdentifier(table.name)) WHERE (\(condition)) LIMIT 0"
    }

    public init(table: TableSchema, condition: String? = nil, start: Start, maxEntries: Int = 2000, limits: QueryLimits = QueryLimits()) {
        self.table = table
        self.condition = condition
        self.start = start
        self.maxEntries = maxEntries
        self.limits = limits
    }
}

/// What a page read: its rows went to the sink; `cursor` is where the next page starts.
public struct TailPage: Sendable {
    public var cursor: TailCursor
    public var rows: Int
    /// True when the page reached the newest change it may read: wait before reading again.
    public var caughtUp: Bool
    /// PostgreSQL: committed changes wait behind a transaction still running (on any database
    /// of the server); they come once it ends.
    public var heldBack = false
}

/// A follow that cannot go on from where it was asked to.
public enum TailError: Error, Equatable, CustomStringConvertible, Sendable {
    case notFollowable(String)
    case foreignCursor
    case expired
    case noJournal(String)

    public var description: String {
        switch self {
        case .notFollowable(let table):
            return "\(table) cannot be followed; follow one of \(ChangeJournal.tables.map(\.name).joined(separator: ", "))"
        case .foreignCursor: return "the cursor is from another store or table: start again with since"
        case .expired:
            return
                "the cursor is older than the change journal keeps (\(ChangeJournal.keptSeconds / 3600) h): changes after it were pruned; start again with since"
        case .noJournal(let store):
            return "\(store) has no change journal yet: open it for writing once with this version (the aggregator, or kubetrail import)"
        }
    }
}

/// A sink for a follow's pages: each page's statements begin the same columns again, and an
/// output format prints them once.
public final class FollowSink: QuerySink {
    let inner: any QuerySink
    public private(set) var begun = false

    public init(_ inner: any QuerySink) { self.inner = inner }

    public func begin(columns: [QueryColumn]) throws {
        guard !begun else { return }
        begun = true
        try inner.begin(columns: columns)
    }

    public func row(_ values: [QueryValue]) throws { try inner.row(values) }
    public func end() throws {}
}
