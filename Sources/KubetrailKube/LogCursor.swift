import KubetrailCore

/// How far one container's log has been read, in the terms the API can resume from. A request
/// can only start at a whole second (`sinceTime`); its reply is every line of the container
/// instance stamped at or after that second, in log order. So the position is: that second, how
/// many lines of such a reply were taken, and which container instance they came from.
public struct LogCursor: Sendable, Equatable, LosslessStringConvertible {
    /// A whole second.
    public var second: Timestamp
    /// Lines stamped at or after `second`, in log order, already taken.
    public var taken: Int
    /// The container instance (container ID), when the pod said.
    public var containerID: String?

    public init(second: Timestamp, taken: Int, containerID: String? = nil) {
        self.second = second
        self.taken = taken
        self.containerID = containerID
    }

    /// `<second in microseconds> <taken> [<container id>]`, as saved in the store.
    public var description: String { "\(second.microseconds) \(taken)" + (containerID.map { " " + $0 } ?? "") }

    public init?(_ text: String) {
        let parts = text.split(separator: " ")
        guard parts.count == 2 || parts.count == 3, let us = Int64(parts[0]), us % 1_000_000 == 0,
              let n = Int(parts[1]), n >= 0 else { return nil }
        self.init(second: Timestamp(microseconds: us), taken: n, containerID: parts.count == 3 ? String(parts[2]) : nil)
    }

    static func wholeSecond(_ t: Timestamp) -> Timestamp {
        let us = t.microseconds
        return Timestamp(microseconds: us >= 0 ? us - us % 1_000_000 : us - ((us % 1_000_000) + 1_000_000) % 1_000_000)
    }
}

/// Follows the lines of successive requests for one container: drops what a resumed request
/// repeats, keeps the cursor, and numbers each line among the lines with the same timestamp, so
/// (timestamp, ordinal) names a line the same way however often it is read.
public struct LogSequence: Sendable {
    public private(set) var cursor: LogCursor?
    private var toSkip = 0
    private var instance: String?
    /// Lines per exact timestamp, for the seconds of the current window.
    private var counts: [Timestamp: Int] = [:]

    public init(cursor: LogCursor?) { self.cursor = cursor }

    /// The reader starts later than the cursor (a `--from` after it): the position is that
    /// second's start. Lines taken before and read again keep their names, so they are stored once.
    public mutating func restart(at t: Timestamp) {
        cursor = LogCursor(second: LogCursor.wholeSecond(t), taken: 0, containerID: cursor?.containerID)
    }

    /// A request for this container instance begins, from the cursor's second.
    public mutating func beginRequest(containerID: String?) {
        counts.removeAll(keepingCapacity: true)
        instance = containerID
        guard var c = cursor else { toSkip = 0; return }
        if let id = containerID, let previous = c.containerID, id != previous {
            // Another instance writes another log: none of its lines were taken yet.
            c.containerID = id
            c.taken = 0
            cursor = c
        } else if c.containerID == nil {
            cursor?.containerID = containerID
        }
        toSkip = c.taken
    }

    /// The line's ordinal, or nil when a resumed request repeats it. Every line handed in moves
    /// the cursor, whether or not the caller keeps it.
    public mutating func accept(_ t: Timestamp) -> Int? {
        let second = LogCursor.wholeSecond(t)
        let ordinal = (counts[t] ?? 0) + 1
        counts[t] = ordinal
        if toSkip > 0, let c = cursor, second >= c.second {
            toSkip -= 1
            return nil
        }
        toSkip = 0
        guard var c = cursor else {
            cursor = LogCursor(second: second, taken: 1, containerID: instance)
            return ordinal
        }
        if second > c.second {
            c.second = second
            c.taken = 1
            counts = counts.filter { LogCursor.wholeSecond($0.key) >= second }
        } else if second == c.second {
            c.taken += 1
        }
        // An older second (a line out of order): a request resumed at `c.second` would not
        // return it, so it does not count towards `taken`.
        cursor = c
        return ordinal
    }
}
