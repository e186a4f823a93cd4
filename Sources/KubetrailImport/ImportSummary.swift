import Foundation

/// What an import did, for the final report (and tests).
public struct ImportSummary: Sendable, Equatable {
    public var files = 0
    public var lines = 0
    /// Input records: events, log lines after joining partials, API objects.
    public var records = 0
    public var stored = 0
    public var updated = 0
    public var deleted = 0
    public var duplicates = 0
    public var skipped = 0
    public var truncated = 0
    public var rejectedByReason: [String: Int] = [:]
    /// Files that could not be read to the end (the rows before the failure are stored).
    public var failedFiles: [String] = []
    /// Why the import stopped early (the store refused a write); rows committed before stay.
    public var failure: String?
    public var bytes: Int64 = 0
    public var seconds: Double = 0

    public var rejected: Int { rejectedByReason.values.reduce(0, +) }

    mutating func reject(_ reason: String) { rejectedByReason[reason, default: 0] += 1 }

    public func render(table: String) -> String {
        func n(_ v: Int) -> String {
            let f = NumberFormatter()
            f.numberStyle = .decimal
            f.groupingSeparator = ","
            return f.string(from: NSNumber(value: v)) ?? String(v)
        }
        var lines = ["Imported into \(table) from \(files) file\(files == 1 ? "" : "s"):"]
        lines.append("  records read   \(n(records))")
        lines.append("  stored         \(n(stored))")
        if updated > 0 { lines.append("  updated        \(n(updated))") }
        if deleted > 0 { lines.append("  deleted        \(n(deleted))") }
        lines.append("  duplicates     \(n(duplicates))")
        if skipped > 0 { lines.append("  skipped        \(n(skipped)) (not for this table)") }
        if truncated > 0 { lines.append("  truncated      \(n(truncated)) (joined line over the size cap)") }
        var rejectedLine = "  rejected       \(n(rejected))"
        if rejected > 0 {
            rejectedLine +=
                " ("
                + rejectedByReason.sorted { $0.value == $1.value ? $0.key < $1.key : $0.value > $1.value }
                .map { "\(n($0.value)) \($0.key)" }.joined(separator: ", ") + ")"
        }
        lines.append(rejectedLine)
        if !failedFiles.isEmpty {
            lines.append("  unreadable     \(failedFiles.count) file\(failedFiles.count == 1 ? "" : "s") (rows read before the error are stored)")
        }
        let rate = seconds > 0 ? Double(records) / seconds : 0
        lines.append(String(format: "  elapsed        %.2f s (%@ records/s, %.1f MB)", seconds, n(Int(rate)), Double(bytes) / 1e6))
        return lines.joined(separator: "\n") + "\n"
    }
}
