/// Durations as every setting, flag and file writes them: `500ms`, `45s`, `30m`, `12h`, `90d`,
/// `2w`, or combined (`1h30m`). One grammar for the agent, the aggregator, the CLI and HCL.
public enum DurationText {
    /// Seconds, or nil when `text` is not a duration. A bare number has no unit and is refused
    /// here (`--retention pod_logs=14` must not mean 14 seconds); `setting` accepts it.
    public static func seconds(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var sawUnit = false
        let characters = Array(text.filter { $0 != " " && $0 != "\t" })
        var i = 0
        while i < characters.count {
            let c = characters[i]
            i += 1
            if c.isNumber || c == "." {
                number.append(c)
                continue
            }
            guard let n = Double(number) else { return nil }
            switch c {
            case "m" where i < characters.count && characters[i] == "s":
                i += 1
                total += n / 1000
            case "s": total += n
            case "m": total += n * 60
            case "h": total += n * 3600
            case "d": total += n * 86_400
            case "w": total += n * 604_800
            default: return nil
            }
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit, total.isFinite else { return nil }
        return total
    }

    /// A timeout or interval setting: a duration, or a bare number of seconds (`30`, `0.5`).
    public static func setting(_ text: String) -> Double? {
        if let n = Double(text), n.isFinite, n >= 0 { return n }
        return seconds(text)
    }
}
