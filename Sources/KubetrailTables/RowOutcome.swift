/// Why one input record did not become a row: a short stable reason for summaries and metrics,
/// and the full message for the user.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var detail: String
    /// Position inside a wrapper (EventList item, records entry), when there is one.
    public var item: Int?

    public init(reason: String, detail: String, item: Int? = nil) {
        self.reason = reason
        self.detail = detail
        self.item = item
    }

    public var description: String {
        item.map { "item \($0): \(detail)" } ?? detail
    }
}

/// What decoding one input record produced.
public enum RowOutcome<Row: TableRow> {
    case row(Row)
    case rejected(Rejection)
    /// Well-formed input that is not for this table (e.g. a non-audit AKS record).
    case skipped(reason: String)
}
