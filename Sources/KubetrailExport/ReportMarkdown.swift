import KubetrailCore

/// The report as Markdown (GitHub-flavoured tables; the chart as text bars), to paste into or
/// attach to an audit ticket.
public enum ReportMarkdown {
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
            out += "## Conflicting audit events\n\nTwo different events arrived under one auditID and stage: one of each pair is forged. Both are kept (`kubetrail_audit_conflicts`).\n\n"
            for c in r.conflicts.prefix(50) { out += "- \(cell(c))\n" }
            out += "\n"
        }

        out += "## Activity per \(r.bucketUnit)\n\n"
        let peak = max(1, r.activity.map(\.requests).max() ?? 1)
        out += "```text\n"
        for b in r.activity {
            let bar = String(repeating: "█", count: (b.requests * 40 + peak - 1) / peak)
            out += b.label.padding(toLength: 13, withPad: " ", startingAt: 0) + " " + bar.padding(toLength: 40, withPad: " ", startingAt: 0)
                + " \(b.requests)" + (b.denied > 0 ? " (\(b.denied) denied)" : "") + "\n"
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
                out += "| " + ComplianceReport.Detections.columns.joined(separator: " | ") + " |\n|" + String(repeating: "---|", count: ComplianceReport.Detections.columns.count) + "\n"
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
