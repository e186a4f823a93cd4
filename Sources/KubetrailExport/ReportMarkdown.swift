import KubetrailCore

/// The report as Markdown (GitHub-flavoured tables; the chart as text bars), to paste into or
/// attach to an audit ticket.
public enum ReportMarkdown {
    /// A line of the activity chart: one bucket, or a run of quiet ones.
    struct ActivityLine: Equatable {
        var label: String
        var requests: Int
        var denied: Int
        /// How many empty buckets the line stands for (0 for a bucket with events).
        var quiet: Int
    }

    /// The buckets, three or more empty ones in a row shown as one line (`2020-01 – 2023-05`):
    /// a five-year report is a page of zeros otherwise. The HTML chart keeps every bucket.
    static func activityLines(_ buckets: [ComplianceReport.Bucket]) -> [ActivityLine] {
        var lines: [ActivityLine] = []
        var run: [ComplianceReport.Bucket] = []
        func flush() {
            if run.count >= 3 {
                lines.append(ActivityLine(label: run[0].label + " – " + run[run.count - 1].label, requests: 0, denied: 0, quiet: run.count))
            } else {
                lines += run.map { ActivityLine(label: $0.label, requests: 0, denied: 0, quiet: 1) }
            }
            run = []
        }
        for b in buckets {
            if b.requests == 0 && b.denied == 0 { run.append(b); continue }
            flush()
            lines.append(ActivityLine(label: b.label, requests: b.requests, denied: b.denied, quiet: 0))
        }
        flush()
        return lines
    }

    public static func render(_ r: ComplianceReport, tool: String = Exporter.tool) -> String {
        var out = "# Kubernetes audit report: \(r.from.iso8601) – \(r.to.iso8601)\n\n"
        out += "| | |\n|---|---|\n"
        out += "| Period | \(r.from.iso8601) to \(r.to.iso8601) (UTC, end excluded) |\n"
        out += "| Source | \(cell(r.source)) |\n"
        out += "| Clusters | \(r.clusters.isEmpty ? "none" : r.clusters.map(cell).joined(separator: ", ")) |\n"
        out += "| Audit events | \(r.totalEvents) from \(r.distinctUsers) users; \(r.deniedEvents) denied (401/403) |\n"
        out += "| Generated | \(r.generatedAt.iso8601) by \(tool) |\n\n"

        out += "## Audit trail integrity\n\n"
        if let lines = r.integrity {
            out += r.integrityProblems.isEmpty ? "No problem found.\n\n" : "**\(r.integrityProblems.count) problems found.**\n\n"
            for l in lines { out += "- \(cell(l))\n" }
            for p in r.integrityProblems.prefix(20) { out += "- \(cell(p))\n" }
            out += "\n"
        } else {
            out += "Not checked: the report was made from an aggregator's query API. Run `kubetrail verify` where the database is.\n\n"
        }

        if !r.conflicts.isEmpty {
            out +=
                "## Conflicting audit events\n\nTwo different events arrived under one auditID and stage: one of each pair is forged. Both are kept (`kubetrail_audit_conflicts`).\n\n"
            for c in r.conflicts.prefix(50) { out += "- \(cell(c))\n" }
            out += "\n"
        }

        out += "## Activity per \(r.bucketUnit)\n\n"
        let peak = max(1, r.activity.map(\.requests).max() ?? 1)
        out += "```text\n"
        let lines = activityLines(r.activity)
        let width = max(13, lines.map(\.label.count).max() ?? 0)
        for line in lines {
            let bar = String(repeating: "█", count: (line.requests * 40 + peak - 1) / peak)
            out +=
                line.label.padding(toLength: width, withPad: " ", startingAt: 0) + " " + bar.padding(toLength: 40, withPad: " ", startingAt: 0)
                + " \(line.requests)" + (line.denied > 0 ? " (\(line.denied) denied)" : "")
                + (line.quiet > 1 ? " (\(line.quiet) \(r.bucketUnit)s)" : "") + "\n"
        }
        out += "```\n\n"

        out += "## Summary\n\n| Check | Events | Most active users |\n|---|---:|---|\n"
        for s in r.sections {
            out += "| \(cell(s.title)) | \(s.total) | \(s.topUsers.map { "\(cell($0.user)) (\($0.count))" }.joined(separator: ", ")) |\n"
        }
        out += "\n"

        if let d = r.detections {
            out += "## Detections\n\nFindings of the aggregator's continuous detection (`kubernetes_detections`) on audit events of the period: "
            out += d.total == 0 ? "none.\n\n" : "\(d.total) (" + d.bySeverity.map { "\($0.count) \(cell($0.severity))" }.joined(separator: ", ") + ").\n\n"
            if !d.byRule.isEmpty {
                out += "| Rule | Severity | Findings |\n|---|---|---:|\n"
                for rule in d.byRule { out += "| \(cell(rule.rule)) | \(cell(rule.severity)) | \(rule.count) |\n" }
                out += "\n"
            }
            if !d.rows.isEmpty {
                out += (d.rows.count < d.total ? "The \(d.rows.count) most recent:" : "All of them:") + "\n\n"
                out +=
                    "| " + ComplianceReport.Detections.columns.joined(separator: " | ") + " |\n|"
                    + String(repeating: "---|", count: ComplianceReport.Detections.columns.count) + "\n"
                for row in d.rows { out += "| " + row.map { cell($0) }.joined(separator: " | ") + " |\n" }
                out += "\n"
            }
        }

        for (n, s) in r.sections.enumerated() {
            out += "## \(n + 1). \(s.title)\n\n\(s.why)\n\n"
            out += s.total == 0 ? "No events.\n\n" : "\(s.total) events" + (s.rows.count < s.total ? "; the \(s.rows.count) most recent:" : ":") + "\n\n"
            if !s.rows.isEmpty {
                out += "| " + s.columns.joined(separator: " | ") + " |\n|" + String(repeating: "---|", count: s.columns.count) + "\n"
                for row in s.rows { out += "| " + row.map { cell($0) }.joined(separator: " | ") + " |\n" }
                out += "\n"
            }
            out += "```sql\n\(r.sql(s))\n```\n\n"
        }
        return out
    }

    /// A table cell: text only, whatever the logged value holds. HTML is entity-escaped,
    /// Markdown's link, image, emphasis and code characters are backslash-escaped, and pipes
    /// too. Line breaks are flattened and very long values cut.
    static func cell(_ s: String) -> String {
        var clipped = s.count > 200 ? String(s.prefix(200)) + "…" : s
        clipped = clipped.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        var out = ""
        for ch in clipped {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\\", "|", "`", "*", "_", "[", "]", "!", "#", "~": out += "\\" + String(ch)
            default: out.append(ch)
            }
        }
        return out
    }
}
