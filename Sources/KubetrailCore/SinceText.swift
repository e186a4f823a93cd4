/// A `since` as users write it: an RFC 3339 time, or a duration back from now (`10m`, `2h`,
/// `7d`), as `kubectl logs --since` and `stern --since` take.
public enum SinceText {
    public static func instant(_ text: String, now: Timestamp) -> Timestamp? {
        if let t = Timestamp(rfc3339: text) { return t }
        guard let seconds = DurationText.seconds(text), seconds >= 0, seconds < 1e12 else { return nil }
        return now.adding(microseconds: -Int64(seconds * 1_000_000))
    }
}
