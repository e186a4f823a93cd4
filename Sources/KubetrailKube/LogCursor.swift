import KubetrailCore

/// How far one container's log stream has been read: the timestamp of the last line taken and
/// how many lines carried exactly that timestamp. The API can only resume at a whole second
/// (`sinceTime`), so a re-issued request repeats lines; this is what tells them apart.
public struct LogCursor: Sendable, Equatable, LosslessStringConvertible {
    public var timestamp: Timestamp
    /// Lines taken with exactly `timestamp` (at least 1).
    public var ordinal: Int

    public init(timestamp: Timestamp, ordinal: Int) {
        self.timestamp = timestamp
        self.ordinal = ordinal
    }

    /// `<microseconds> <ordinal>`, as saved in the store.
    public var description: String { "\(timestamp.microseconds) \(ordinal)" }

    public init?(_ text: String) {
        let parts = text.split(separator: " ")
        guard parts.count == 2, let us = Int64(parts[0]), let n = Int(parts[1]), n >= 1 else { return nil }
        self.init(timestamp: Timestamp(microseconds: us), ordinal: n)
    }
}

/// Numbers the lines of successive requests for one container and drops the ones a re-issued
/// request repeats. Each line gets an ordinal among the lines with the same timestamp, so
/// (timestamp, ordinal) names a line the same way however often it is read.
public struct LogSequence: Sendable {
    public private(set) var cursor: LogCursor?
    private var replaying = false
    private var replayedAtCursor = 0

    public init(cursor: LogCursor?) { self.cursor = cursor }

    /// A new request starts: its first lines may repeat what was taken.
    public mutating func beginRequest() {
        replaying = cursor != nil
        replayedAtCursor = 0
    }

    /// The line's ordinal, or nil when it was taken before.
    public mutating func accept(_ t: Timestamp) -> Int? {
        if replaying, let c = cursor {
            if t < c.timestamp { return nil }
            if t == c.timestamp && replayedAtCursor < c.ordinal {
                replayedAtCursor += 1
                return nil
            }
            replaying = false
        }
        guard let c = cursor else {
            cursor = LogCursor(timestamp: t, ordinal: 1)
            return 1
        }
        if t == c.timestamp {
            cursor!.ordinal += 1
            return cursor!.ordinal
        }
        if t > c.timestamp {
            cursor = LogCursor(timestamp: t, ordinal: 1)
            return 1
        }
        // A line older than one already taken, in a live stream (clock step, stdout/stderr
        // interleave): kept, and the cursor stays where it is so nothing after it repeats.
        return 1
    }
}
