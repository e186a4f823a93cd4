import KubetrailCore

/// The report as one self-contained HTML file: inline CSS and an inline SVG chart, no scripts,
/// no external resources, so it opens the same anywhere it is attached.
public enum ReportHTML {
    public static func render(_ r: ComplianceReport, tool: String = Exporter.tool) -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Kubernetes audit report \(e(r.from.iso8601)) – \(e(r.to.iso8601))</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}
            h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
            table{border-collapse:collapse;margin:.5em 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
            th{background:#f4f4f4}td.n{text-align:right}.ok{color:#176f2c}.bad{color:#b00020;font-weight:bold}
            pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:12px}.why{color:#555}
            svg .req{fill:#4a78b5}svg .den{fill:#c0392b}svg text{font-size:10px;fill:#555}
            </style></head><body>

            """
        out += "<h1>Kubernetes audit report</h1>\n<table>\n"
        out += row("Period", "\(r.from.iso8601) to \(r.to.iso8601) (UTC, end excluded)")
        out += row("Source", r.source)
        out += row("Clusters", r.clusters.isEmpty ? "none" : r.clusters.joined(separator: ", "))
        out += row("Audit events", "\(r.totalEvents) from \(r.distinctUsers) users; \(r.deniedEvents) denied (401/403)")
        out += row("Generated", "\(r.generatedAt.iso8601) by \(tool)")
        out += "</table>\n<h2>Audit trail integrity</h2>\n"
        if let lines = r.integrity {
            out +=
                r.integrityProblems.isEmpty ? "<p class=\"ok\">No problem found.</p>\n" : "<p class=\"bad\">\(r.integrityProblems.count) problems found.</p>\n"
            out += "<ul>\n" + (lines + r.integrityProblems.prefix(20)).map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n"
        } else {
            out += "<p>Not checked: the report was made from an aggregator's query API. Run <code>kubetrail verify</code> where the database is.</p>\n"
        }
        if !r.conflicts.isEmpty {
            out +=
                "<h2>Conflicting audit events</h2>\n<p class=\"bad\">Two different events arrived under one auditID and stage: one of each pair is forged. Both are kept (<code>kubetrail_audit_conflicts</code>).</p>\n<ul>\n"
                + r.conflicts.prefix(50).map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n"
        }
        out += "<h2>Activity per \(e(r.bucketUnit))</h2>\n" + chart(r)
        out += "<h2>Summary</h2>\n<table><tr><th>Check</th><th>Events</th><th>Most active users</th></tr>\n"
        for (n, s) in r.sections.enumerated() {
            out +=
                "<tr><td><a href=\"#s\(n + 1)\">\(e(s.title))</a></td><td class=\"n\">\(s.total)</td><td>"
                + e(s.topUsers.map { "\($0.user) (\($0.count))" }.joined(separator: ", ")) + "</td></tr>\n"
        }
        out += "</table>\n"
        if let d = r.detections {
            out +=
                "<h2 id=\"detections\">Detections</h2>\n<p class=\"why\">Findings of the aggregator's continuous detection (<code>kubernetes_detections</code>) on audit events of the period: "
            out += d.total == 0 ? "none.</p>\n" : "\(d.total) (" + e(d.bySeverity.map { "\($0.count) \($0.severity)" }.joined(separator: ", ")) + ").</p>\n"
            if !d.byRule.isEmpty {
                out += "<table><tr><th>Rule</th><th>Severity</th><th>Findings</th></tr>\n"
                for rule in d.byRule { out += "<tr><td>\(e(rule.rule))</td><td>\(e(rule.severity))</td><td class=\"n\">\(rule.count)</td></tr>\n" }
                out += "</table>\n"
            }
            if !d.rows.isEmpty {
                out += "<table><tr>" + ComplianceReport.Detections.columns.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
                for row in d.rows { out += "<tr>" + row.map { "<td>\(e(clip($0)))</td>" }.joined() + "</tr>\n" }
                out += "</table>\n"
            }
        }
        for (n, s) in r.sections.enumerated() {
            out += "<h2 id=\"s\(n + 1)\">\(n + 1). \(e(s.title))</h2>\n<p class=\"why\">\(e(s.why))</p>\n"
            out +=
                "<p>" + (s.total == 0 ? "No events." : "\(s.total) events" + (s.rows.count < s.total ? "; the \(s.rows.count) most recent:" : ":")) + "</p>\n"
            if !s.rows.isEmpty {
                out += "<table><tr>" + s.columns.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
                for row in s.rows { out += "<tr>" + row.map { "<td>\(e(clip($0)))</td>" }.joined() + "</tr>\n" }
                out += "</table>\n"
            }
            out += "<pre>\(e(r.sql(s)))</pre>\n"
        }
        return out + "</body></html>\n"
    }

    /// Requests per bucket as bars, the denied part of each in red; hover shows the numbers.
    static func chart(_ r: ComplianceReport) -> String {
        let n = max(1, r.activity.count)
        let width = 860.0, height = 160.0, left = 40.0, bottom = 20.0
        let barWidth = (width - left) / Double(n)
        let peak = Double(max(1, r.activity.map(\.requests).max() ?? 1))
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"audit events per \(e(r.bucketUnit))\">\n"
        svg += "<text x=\"0\" y=\"10\">\(Int(peak))</text><text x=\"0\" y=\"\(Int(height - bottom))\">0</text>\n"
        for (i, b) in r.activity.enumerated() {
            let x = left + Double(i) * barWidth
            let h = Double(b.requests) / peak * (height - bottom - 5)
            let d = Double(b.denied) / peak * (height - bottom - 5)
            let w = String(format: "%.2f", max(0.5, barWidth - 1))
            svg += "<g><title>\(e(b.label)): \(b.requests) requests, \(b.denied) denied</title>"
            svg +=
                "<rect class=\"req\" x=\"\(String(format: "%.2f", x))\" y=\"\(String(format: "%.2f", height - bottom - h))\" width=\"\(w)\" height=\"\(String(format: "%.2f", h))\"/>"
            if b.denied > 0 {
                svg +=
                    "<rect class=\"den\" x=\"\(String(format: "%.2f", x))\" y=\"\(String(format: "%.2f", height - bottom - d))\" width=\"\(w)\" height=\"\(String(format: "%.2f", d))\"/>"
            }
            svg += "</g>\n"
        }
        if let first = r.activity.first, let last = r.activity.last {
            svg += "<text x=\"\(Int(left))\" y=\"\(Int(height - 4))\">\(e(first.label))</text>"
            svg += "<text x=\"\(Int(width))\" y=\"\(Int(height - 4))\" text-anchor=\"end\">\(e(last.label))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func row(_ k: String, _ v: String) -> String { "<tr><th>\(e(k))</th><td>\(e(v))</td></tr>\n" }

    static func clip(_ s: String) -> String { s.count > 300 ? String(s.prefix(300)) + "…" : s }

    /// HTML-escapes text for element content and attribute values.
    static func e(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
