import Foundation
import KubetrailCore
import KubetrailStore

/// Runs a report's queries, on the local store or an aggregator (`POST /v1/query`).
public struct ReportBuilder {
    public enum Source {
        case store(any Store)
        case remote(server: String, token: String, caFile: String?)
    }

    let source: Source
    let maxRows: Int

    public init(source: Source, maxRows: Int = 100) {
        self.source = source
        self.maxRows = maxRows
    }

    public func build(from: Timestamp, to: Timestamp, now: Timestamp = .now, sourceName: String) throws -> ComplianceReport {
        var r = ComplianceReport(from: from, to: to, generatedAt: now, source: sourceName)
        let range = r.rangeCondition
        // Requests, not rows: a request is stored once per stage it reached (audit_id is shared).
        let totals = try rows(
            "SELECT count(DISTINCT audit_id), count(DISTINCT user_name), count(DISTINCT CASE WHEN response_code IN (401, 403) THEN audit_id END) FROM kubernetes_audit_logs WHERE \(range)"
        )
        r.totalEvents = Int(totals.first?[0] ?? "") ?? 0
        r.distinctUsers = Int(totals.first?[1] ?? "") ?? 0
        r.deniedEvents = Int(totals.first?[2] ?? "") ?? 0
        r.clusters = try rows("SELECT DISTINCT tp_index FROM kubernetes_audit_logs WHERE \(range) ORDER BY 1").map { $0[0] }

        // Activity: hours for up to two days, days up to three months, then months.
        let span = Double(to.microseconds - from.microseconds) / 1e6
        let (unit, width): (String, Int) = span <= 2 * 86_400 ? ("hour", 13) : span <= 92 * 86_400 ? ("day", 10) : ("month", 7)
        r.bucketUnit = unit
        var counts: [String: (Int, Int)] = [:]
        // date_trunc: what both backends answer alike (SQLite through the dialect).
        for row in try rows(
            "SELECT date_trunc('\(unit)', stage_timestamp), count(DISTINCT audit_id), count(DISTINCT CASE WHEN response_code IN (401, 403) THEN audit_id END) FROM kubernetes_audit_logs WHERE \(range) GROUP BY 1 ORDER BY 1"
        ) {
            counts[String(row[0].prefix(width))] = (Int(row[1]) ?? 0, Int(row[2]) ?? 0)
        }
        r.activity = Self.buckets(from: from, to: to, unit: unit).map { label in
            ComplianceReport.Bucket(label: label, requests: counts[label]?.0 ?? 0, denied: counts[label]?.1 ?? 0)
        }

        r.detections = try? detections(from: from, to: to)

        for i in r.sections.indices {
            let s = r.sections[i]
            let condition = "\(range) AND \(s.condition)"
            r.sections[i].total = Int(try rows("SELECT count(DISTINCT audit_id) FROM kubernetes_audit_logs WHERE \(condition)").first?[0] ?? "") ?? 0
            r.sections[i].rows = try rows(r.sql(s) + " LIMIT \(maxRows)")
            r.sections[i].topUsers = try rows(
                """
                SELECT coalesce(user_name, '(none)'), count(DISTINCT audit_id) FROM kubernetes_audit_logs WHERE \(condition) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5
                """
            ).map { ($0[0], Int($0[1]) ?? 0) }
        }
        return r
    }

    /// The findings of continuous detection whose audit row is in the period.
    func detections(from: Timestamp, to: Timestamp) throws -> ComplianceReport.Detections {
        var d = ComplianceReport.Detections()
        let range = "event_time >= '\(from.iso8601)' AND event_time < '\(to.iso8601)'"
        let order = ComplianceReport.Detections.severityOrder
        d.bySeverity = try rows("SELECT severity, count(*) FROM kubernetes_detections WHERE \(range) GROUP BY severity ORDER BY min(\(order))")
            .map { ($0[0], Int($0[1]) ?? 0) }
        d.total = d.bySeverity.reduce(0) { $0 + $1.count }
        d.byRule = try rows(
            """
            SELECT rule_title, severity, count(*) FROM kubernetes_detections WHERE \(range) GROUP BY rule_title, severity
            ORDER BY 3 DESC, min(\(order)), 1 LIMIT 20
            """
        ).map { ($0[0], $0[1], Int($0[2]) ?? 0) }
        d.rows = try rows(
            "SELECT \(ComplianceReport.Detections.columns.joined(separator: ", ")) FROM kubernetes_detections WHERE \(range) ORDER BY event_time DESC, tp_id LIMIT \(maxRows)"
        )
        return d
    }

    /// Every bucket label from `from` to `to` (so quiet stretches show as zero, not as nothing).
    static func buckets(from: Timestamp, to: Timestamp, unit: String) -> [String] {
        var labels: [String] = []
        var c = from.civil
        c.minute = 0; c.second = 0; c.microsecond = 0
        if unit != "hour" { c.hour = 0 }
        if unit == "month" { c.day = 1 }
        var t = Timestamp(civil: c)
        while t < to && labels.count < 2000 {
            let iso = t.iso8601
            labels.append(String(iso.prefix(unit == "hour" ? 13 : unit == "day" ? 10 : 7)))
            switch unit {
            case "hour": t = t.adding(microseconds: 3_600_000_000)
            case "day": t = t.adding(microseconds: 86_400_000_000)
            default:
                var n = t.civil
                n.month += 1
                if n.month > 12 { n.month = 1; n.year += 1 }
                t = Timestamp(civil: n)
            }
        }
        return labels
    }

    /// A query's rows as display text (NULL as empty).
    func rows(_ sql: String) throws -> [[String]] {
        final class Collect: QuerySink {
            var rows: [[String]] = []
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) { rows.append(values.map(\.displayText)) }
            func end() {}
        }
        let c = Collect()
        switch source {
        case .store(let store):
            try store.query(sql, into: c)
        case .remote(let server, let token, let caFile):
            try RemoteSQL(server: server, token: token, caFile: caFile).run(sql, into: c)
        }
        return c.rows
    }
}

extension QueryValue {
    var displayText: String {
        switch self {
        case .null: return ""
        case .int(let v): return String(v)
        case .real(let v): return String(v)
        case .text(let s): return s
        case .blob(let b): return "\(b.count) bytes"
        }
    }
}
