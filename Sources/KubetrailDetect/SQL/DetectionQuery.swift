import KubetrailCore
import KubetrailStore
import KubetrailTables

/// All rules in one pass over the audit table: each row's matching rules are listed in one
/// column (`kt_rules`, rule numbers separated by commas), and only rows that match any come out.
/// One scan whatever the number of rules; each rule's cheap column tests come first in its
/// condition, so its JSON work is done only for the rows they let through.
public struct DetectionQuery {
    public let detections: [Detection]
    public let engine: SQLEngine

    public init(_ detections: [Detection], engine: SQLEngine) {
        self.detections = detections
        self.engine = engine
    }

    /// The audit columns a finding carries, in order, as the query names them.
    public static let rowColumns: [(name: String, sql: String)] = [
        ("audit_id", "audit_id"), ("stage", "stage"), ("event_time", "stage_timestamp"), ("user_name", "user_name"),
        ("verb", "verb"), ("resource", "resource"), ("namespace", "namespace"), ("name", "name"), ("source_ips", "source_ips")
    ]

    /// The condition of one rule, reordered so column tests run before JSON ones.
    public func condition(_ d: Detection) -> String {
        PredicateSQL(engine: engine).condition(d.predicate.cheapestFirst())
    }

    /// The query over rows whose time is in [from, to).
    public func sql(from: Timestamp?, to: Timestamp?) -> String {
        sql(where: AuditScanScope.time(from: from, to: to).overView)
    }

    private func sql(where conditions: [String]) -> String {
        let matched = detections.isEmpty ? "''" : matchedRules()
        let columns = Self.rowColumns.map { $0.sql == $0.name ? $0.name : "\($0.sql) AS \($0.name)" }
        return """
            SELECT * FROM (
              SELECT \((columns + ["tp_id AS kt_row", "tp_index AS kt_cluster", "tp_timestamp AS kt_time"]).joined(separator: ", ")),
                \(matched) AS kt_rules
              FROM kubernetes_audit_logs\(conditions.isEmpty ? "" : "\n  WHERE " + conditions.joined(separator: " AND "))
            ) AS matched
            WHERE kt_rules <> ''
            ORDER BY kt_time, kt_row
            """
    }
}

extension DetectionQuery {
    /// The expression listing a row's matching rules. Rules that need the same verbs are tested
    /// under one test of those verbs: a `get` skips every create/update/patch rule at once,
    /// where each would have tested the verb itself.
    func matchedRules() -> String {
        let sql = PredicateSQL(engine: engine)
        var groups: [(verbs: [String], rules: [Int])] = []
        var alone: [Int] = []
        for (i, d) in detections.enumerated() {
            guard let verbs = d.predicate.requiredVerbs else { alone.append(i); continue }
            if let g = groups.firstIndex(where: { $0.verbs == verbs }) { groups[g].rules.append(i) } else { groups.append((verbs, [i])) }
        }
        func rule(_ i: Int) -> String { "CASE WHEN \(condition(detections[i])) THEN '\(i),' ELSE '' END" }
        var parts: [String] = []
        for g in groups {
            if g.rules.count == 1 { alone.append(g.rules[0]); continue }
            let verbTest = sql.condition(.or(g.verbs.map { .match(.text(column: "verb"), .equals($0)) }))
            parts.append("CASE WHEN \(verbTest) THEN (" + g.rules.map(rule).joined(separator: "\n      || ") + ") ELSE '' END")
        }
        parts += alone.sorted().map(rule)
        return parts.joined(separator: "\n    || ")
    }
}

extension DetectionPredicate {
    /// The verbs a row must have for this to match (lower-cased, sorted), when its top level
    /// requires one of them; nil when it matches rows of any verb.
    var requiredVerbs: [String]? {
        func verbs(_ p: DetectionPredicate) -> [String]? {
            switch p {
            case .match(.text(column: "verb"), .equals(let v)): return [v.lowercased()]
            case .or(let terms):
                var all: [String] = []
                for t in terms {
                    guard let v = verbs(t) else { return nil }
                    all += v
                }
                return all.isEmpty ? nil : all
            default: return nil
            }
        }
        switch self {
        case .and(let terms):
            // A term of an AND that requires verbs, looking into nested ANDs (`selection and not …`).
            for t in terms {
                if let v = verbs(t) ?? t.requiredVerbs { return Array(Set(v)).sorted() }
            }
            return nil
        default: return verbs(self).map { Array(Set($0)).sorted() }
        }
    }

    /// The same predicate with, in each `and`, the terms on plain columns first: SQLite and
    /// PostgreSQL stop an AND at its first false term, so a rule's `verb`/`resource` tests keep
    /// its JSON paths from being walked on rows they already rule out.
    func cheapestFirst() -> DetectionPredicate {
        switch self {
        case .match: return self
        case .not(let p): return .not(p.cheapestFirst())
        case .or(let terms): return .or(terms.map { $0.cheapestFirst() })
        case .and(let terms):
            let ordered = terms.map { $0.cheapestFirst() }.enumerated().sorted { a, b in
                (a.element.cost, a.offset) < (b.element.cost, b.offset)
            }
            return .and(ordered.map(\.element))
        }
    }

    /// A rough cost: a column's equality 1, a pattern or regular expression 4; a list's tests
    /// four times as much, a JSON path's sixteen; combinations add up.
    var cost: Int {
        switch self {
        case .match(let field, let test):
            let base: Int
            switch test {
            case .equals, .number, .bool, .exists, .isNull: base = 1
            case .wildcard, .regex, .cidr: base = 4
            }
            switch field {
            case .text, .integer: return base
            case .list: return 4 * base
            case .json: return 16 * base
            }
        case .not(let p): return p.cost
        case .and(let terms), .or(let terms): return terms.reduce(0) { $0 + $1.cost }
        }
    }
}
