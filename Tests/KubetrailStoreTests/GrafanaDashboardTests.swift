import Foundation
import Testing
import TestSupport
@testable import KubetrailStore
import KubetrailCore

/// The example Grafana dashboard (docs/grafana/kubetrail-postgres.json): every panel's SQL,
/// with Grafana's `$__timeFilter` expanded as its PostgreSQL data source does, runs on the
/// PostgreSQL store and answers what the loaded data says.
@Suite struct GrafanaDashboardTests {
    static func panels() throws -> [(title: String, sql: String)] {
        let url = Fixtures.repositoryRoot.appendingPathComponent("docs/grafana/kubetrail-postgres.json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let panels = try #require(json["panels"] as? [[String: Any]])
        return try panels.map { p in
            let target = try #require((p["targets"] as? [[String: Any]])?.first)
            return (try #require(p["title"] as? String), try #require(target["rawSql"] as? String))
        }
    }

    /// `$__timeFilter(col)` → `col BETWEEN 'from' AND 'to'`, as Grafana's PostgreSQL data source expands it.
    static func expand(_ sql: String, from: Timestamp, to: Timestamp) -> String {
        var out = sql
        while let r = out.range(of: "$__timeFilter(") {
            let close = out[r.upperBound...].firstIndex(of: ")")!
            let column = out[r.upperBound..<close]
            out.replaceSubrange(r.lowerBound...close, with: "\(column) BETWEEN '\(from.iso8601)' AND '\(to.iso8601)'")
        }
        return out
    }

    @Test func everyPanelRunsAndAnswersFromTheData() throws {
        let data = try ReadmeQueryCheck(.postgres)
        let to = Timestamp.now, from = to.adding(microseconds: -24 * 3_600_000_000)
        let panels = try Self.panels()
        #expect(
            panels.map(\.title) == [
                "Audit events per hour by verb", "Failed authentication (401, 403)", "Top users", "Secret access", "Error logs per hour by namespace"
            ])
        var answers: [String: [[String]]] = [:]
        for p in panels {
            let c = Collect()
            try data.store.query(Self.expand(p.sql, from: from, to: to), into: c)
            answers[p.title] = c.rows
        }
        let sum = { (rows: [[String]]) in rows.reduce(0) { $0 + (Int($1[2]) ?? 0) } }
        #expect(sum(answers["Audit events per hour by verb"]!) == data.audits.count)
        #expect(answers["Failed authentication (401, 403)"]!.count == data.audits.filter { [401, 403].contains($0.code) }.count)
        #expect(answers["Secret access"]!.count == data.audits.filter { $0.resource == "secrets" && ["get", "list", "watch"].contains($0.verb) }.count)
        let users = Dictionary(grouping: data.audits, by: \.user).mapValues(\.count).sorted { ($0.value, $1.key) > ($1.value, $0.key) }
        #expect(answers["Top users"]!.map { [$0[0], $0[1]] } == users.prefix(10).map { [$0.key, String($0.value)] })
        #expect(sum(answers["Error logs per hour by namespace"]!) == data.logs.filter { $0.level == "ERROR" }.count)
    }
}
