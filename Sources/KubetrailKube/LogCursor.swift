import KubetrailCore

/// How far one container's log has been read, in the terms the API can resume from. A request
/// can only start at a whole second (`sinceTime`); its reply is every line of the container
/// instance stamped at or after that second, in log order. So the position is: that second, how
/// many lines of such a reply were taken, a fingerprint of the last of them (to notice a reply
/// that is not the one read before), and the container instance they came from.
public struct LogCursor: Sendable, Equatable, LosslessStringConvertible {
    /// A whole second.
    public var second: Timestamp
    /// Lines stamped at or after `second`, in log order, already taken.
    public var taken: Int
    /// FNV-1a of the last of them (timestamp prefix included), when there is one.
    public var fingerprint: UInt64?
    /// The container instance (container ID), when the pod said.
    public var containerID: String?

    public init(second: Timestamp, taken: Int, fingerprint: UInt64? = nil, containerID: String? = nil) {
        self.second = second
        self.taken = taken
        self.fingerprint = fingerprint
        self.containerID = containerID
    }

    /// `<second in microseconds> <taken> <fingerprint hex or -> [<container id>]`, as saved.
    public var description: String {
        "\(second.microseconds) \(taken) " + (fingerprint.map { String($0, radix: 16) } ?? "-") + (containerID.map { " " + $0 } ?? "")
    }

    public init?(_ text: String) {
        let parts = text.split(separator: " ")
        guard parts.count == 3 || parts.count == 4, let us = Int64(parts[0]), us % 1_000_000 == 0,
            let n = Int(parts[1]), n >= 0
        else { return nil }
        var fingerprint: UInt64?
        if parts[2] != "-" {
            guard let f = UInt64(parts[2], radix: 16) else { return nil }
            fingerprint = f
        }
        self.init(
            second: Timestamp(microseconds: us), taken: n, fingerprint: fingerprint,
            containerID: parts.count == 4 ? String(parts[3]) : nil)
    }

    static func wholeSecond(_ t: Timestamp) -> Timestamp {
        let us = t.microseconds
        return Timestamp(microseconds: us - ((us % 1_000_000) + 1_000_000) % 1_000_000)
    }

    /// FNV-1a, 64 bits: enough to tell one log line from another at the same place.
    public static func fingerprint(_ line: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in line { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}

/// Follows the lines of successive requests for one container: drops what a resumed request
/// repeats, keeps the cursor, and numbers each line among its instance's lines with the same
/// timestamp, so (instance, timestamp, ordinal) names a line the same way however it is read.
///
/// The runtime stamps stdout and stderr separately, so a line can carry an earlier time than the
/// one before it. The cursor therefore stays `window` seconds behind the newest second read: a
/// resumed request starts early enough to return a late-stamped line not read yet, and the
/// lines it repeats are skipped by count.
public struct LogSequence: Sendable {
    public static let window: Int64 = 5_000_000  // microseconds

    public enum Outcome: Equatable {
        /// A line not taken before, with its ordinal.
        case new(Int)
        /// A line a resumed request repeats.
        case repeated
        /// The last repeated line is not the one taken: the reply is not the log read before
        /// (rotated away, or another instance). Nothing of it can be trusted to be a repeat.
        case mismatch
    }

    public private(set) var cursor: LogCursor?
    private var toSkip = 0
    private var instance: String?
    /// The second this request's reply starts at.
    private var replyStart = Timestamp(microseconds: .min)
    private var newest = Timestamp(microseconds: .min)
    /// Lines of this reply per second, for the seconds the cursor may still go back to.
    private var perSecond: [Timestamp: Int] = [:]
    /// Lines per exact timestamp, for the same seconds.
    private var counts: [Timestamp: Int] = [:]

    public init(cursor: LogCursor?) { self.cursor = cursor }

    /// The reader starts later than the cursor (a `--from` after it): the position is that
    /// second's start. Lines taken before and read again keep their names, so they are stored once.
    public mutating func restart(at t: Timestamp) {
        cursor = LogCursor(second: LogCursor.wholeSecond(t), taken: 0, containerID: cursor?.containerID)
    }

    /// Forgets how many lines of the cursor's second were taken: everything from that second
    /// is read again (and stored once, by name).
    public mutating func discardCount() {
        cursor?.taken = 0
        cursor?.fingerprint = nil
    }

    /// A request for this container instance begins, from `cursor.second` (or `start`).
    public mutating func beginRequest(containerID: String?, start: Timestamp?) {
        counts.removeAll(keepingCapacity: true)
        perSecond.removeAll(keepingCapacity: true)
        newest = Timestamp(microseconds: .min)
        instance = containerID
        toSkip = 0
        replyStart = cursor?.second ?? start.map(LogCursor.wholeSecond) ?? Timestamp(microseconds: .min)
        guard var c = cursor else { return }
        if let id = containerID, let previous = c.containerID, id != previous {
            // Another instance writes another log: none of its lines were taken yet.
            c = LogCursor(second: c.second, taken: 0, containerID: id)
        } else if c.containerID == nil {
            c.containerID = containerID  // checked against the fingerprint while skipping
        }
        cursor = c
        toSkip = c.taken
    }

    /// What the line is. Every line handed in moves the cursor, whether or not the caller keeps it.
    public mutating func accept(_ t: Timestamp, fingerprint: UInt64) -> Outcome {
        let second = LogCursor.wholeSecond(t)
        let ordinal = (counts[t] ?? 0) + 1
        counts[t] = ordinal
        perSecond[second, default: 0] += 1
        if t > newest { newest = t }
        if toSkip > 0 {
            toSkip -= 1
            if toSkip == 0, let expected = cursor?.fingerprint, expected != fingerprint { return .mismatch }
            return .repeated
        }
        let resume = max(replyStart, LogCursor.wholeSecond(newest.adding(microseconds: -Self.window)))
        // Stamped before the resume second: a resumed request would not return it, so it changes
        // neither the count nor the last line counted.
        if second < resume, cursor != nil { return .new(ordinal) }
        if resume > (cursor?.second ?? Timestamp(microseconds: .min)) {
            perSecond = perSecond.filter { $0.key >= resume }
            counts = counts.filter { LogCursor.wholeSecond($0.key) >= resume }
        }
        let taken = perSecond.reduce(0) { $1.key >= resume ? $0 + $1.value : $0 }
        cursor = LogCursor(second: resume, taken: taken, fingerprint: fingerprint, containerID: instance ?? cursor?.containerID)
        return .new(ordinal)
    }
}
