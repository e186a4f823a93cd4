import KubetrailStore
import Foundation
import KubetrailTables

/// A detection predicate as an SQL condition over `kubernetes_audit_logs`, for one engine.
///
/// The two engines store the same contract differently, so the SQL differs where they do:
/// list columns are JSON arrays on SQLite and `text[]` on PostgreSQL; JSON paths go through
/// `kubetrail_json_values` (registered on SQLite's query connections) or `jsonb_path_query_array`
/// in lax mode, both of which step into arrays on the way, as an audit event's `containers` or
/// `volumes` need. Text comparisons ignore case, as Sigma's do: on SQLite equality uses
/// `COLLATE NOCASE` (ASCII, native and fast) when the value is ASCII and kubetrail's `match`
/// (Unicode) otherwise. Every test is false, never NULL, on a missing value, so `not` means
/// "does not match" for a row that lacks the field too.
public struct PredicateSQL {
    public let engine: SQLEngine

    public init(engine: SQLEngine) { self.engine = engine }

    public func condition(_ p: DetectionPredicate) -> String {
        switch p {
        case .match(let field, let test):
            if let pattern = Self.textPattern(test) { return textAny(field, [pattern]) }
            return match(field, test)
        case .and(let terms): return terms.isEmpty ? "1 = 1" : "(" + terms.map(condition).joined(separator: " AND ") + ")"
        case .or(let terms):
            guard !terms.isEmpty else { return "1 = 0" }
            // A field's text tests (a Sigma value list) become one test of all its patterns.
            var groups: [(field: AuditField, patterns: [[WildcardPart]])] = []
            var others: [DetectionPredicate] = []
            for t in terms {
                if case .match(let field, let test) = t, let pattern = Self.textPattern(test) {
                    if let i = groups.firstIndex(where: { $0.field == field }) { groups[i].patterns.append(pattern) } else { groups.append((field, [pattern])) }
                } else {
                    others.append(t)
                }
            }
            let parts = groups.map { textAny($0.field, $0.patterns) } + others.map(condition)
            return parts.count == 1 ? parts[0] : "(" + parts.joined(separator: " OR ") + ")"
        // NULL (a test on a missing value, on either engine) is no match, so NOT of it is a match.
        case .not(let inner): return "(NOT COALESCE(" + condition(inner) + ", FALSE))"
        }
    }

    /// Equality and wildcards as one pattern form (equality: a pattern of one literal).
    static func textPattern(_ test: ValueTest) -> [WildcardPart]? {
        switch test {
        case .equals(let text): return [.literal(text)]
        case .wildcard(let parts): return parts
        default: return nil
        }
    }

    /// Any of `patterns` (ignoring case) on the field: one test however many patterns.
    private func textAny(_ field: AuditField, _ patterns: [[WildcardPart]]) -> String {
        // `*` alone is any value at all (SigmaHQ's `hostPath: '*'` is an object): not null.
        if patterns.contains([.anyRun]) { return "(NOT " + match(field, .isNull) + ")" }
        let ascii = patterns.allSatisfy { $0.allSatisfy { if case .literal(let s) = $0 { return s.utf8.allSatisfy { $0 < 0x80 } } else { return true } } }
        let literals = patterns.compactMap { p -> String? in if p.count == 1, case .literal(let s) = p[0] { return s } else { return nil } }
        let allLiteral = literals.count == patterns.count
        switch (engine, field) {
        case (.sqlite, .text(let column)), (.sqlite, .integer(let column)):
            let c = Self.identifier(column)
            if ascii && allLiteral { return "(\(c) IS NOT NULL AND \(c) COLLATE NOCASE IN (\(literals.map(Self.literal).joined(separator: ", "))))" }
            if ascii { return "kubetrail_text_any(\(c), \(likeSpec(patterns)))" }
        case (.sqlite, .list(let column)):
            if ascii { return "kubetrail_list_any(\(Self.identifier(column)), \(likeSpec(patterns)))" }
        case (.sqlite, .json(let column, let path)):
            if ascii { return "kubetrail_json_text_any(\(Self.identifier(column)), \(Self.literal(keys(path))), \(likeSpec(patterns)))" }
        case (.postgres, .text(let column)), (.postgres, .integer(let column)):
            // An integer column (`responseStatus.code|startswith: '5'`) is compared as its text, as SQLite does.
            let c = field == .integer(column: column) ? Self.identifier(column) + "::text" : Self.identifier(column)
            if allLiteral { return "(\(c) IS NOT NULL AND lower(\(c)) IN (\(literals.map { "lower(\(Self.literal($0)))" }.joined(separator: ", "))))" }
            return "(\(c) IS NOT NULL AND \(c) ~* \(Self.literal("^(?:" + regex(patterns, any: ".") + ")$")))"
        case (.postgres, .list(let column)):
            // The elements joined by a unit separator, which no name holds: one regex, no subquery.
            let c = Self.identifier(column)
            let r = "(?:^|\\x1f)(?:" + regex(patterns, any: "[^\\x1f]") + ")(?:\\x1f|$)"
            return "(cardinality(\(c)) > 0 AND array_to_string(\(c), chr(31)) ~* \(Self.literal(r)))"
        case (.postgres, .json(let column, let path)):
            return
                "(EXISTS (SELECT 1 FROM \(jsonSource(Self.identifier(column), path)) WHERE jsonb_typeof(e.value) = 'string' AND (e.value #>> '{}') ~* \(Self.literal("^(?:" + regex(patterns, any: ".") + ")$"))))"
        }
        // SQLite with letters beyond ASCII: kubetrail's `match`, which folds every case.
        let tests = patterns.map { ValueTest.wildcard($0) }
        switch field {
        case .text(let column), .integer(let column):
            let c = Self.identifier(column)
            return "(\(c) IS NOT NULL AND (" + tests.map { scalar(c, $0, typed: .text) }.joined(separator: " OR ") + "))"
        case .list(let column):
            return "(EXISTS (SELECT 1 FROM \(listSource(Self.identifier(column))) WHERE e.value IS NOT NULL AND ("
                + tests.map { scalar("e.value", $0, typed: .text) }.joined(separator: " OR ") + ")))"
        case .json(let column, let path):
            return "(EXISTS (SELECT 1 FROM \(jsonSource(Self.identifier(column), path)) WHERE e.type = 'text' AND ("
                + tests.map { scalar("e.value", $0, typed: .text) }.joined(separator: " OR ") + ")))"
        }
    }

    /// The patterns as the JSON array of LIKE patterns the SQLite functions take.
    private func likeSpec(_ patterns: [[WildcardPart]]) -> String {
        Self.literal(JSONText.array(patterns.map(Self.like)))
    }

    static func like(_ parts: [WildcardPart]) -> String {
        parts.map { part -> String in
            switch part {
            case .literal(let s): return likeEscaped(s)
            case .anyRun: return "%"
            case .anyOne: return "_"
            }
        }.joined()
    }

    /// The patterns as alternatives of a PostgreSQL regular expression; `any` is one character.
    private func regex(_ patterns: [[WildcardPart]], any: String) -> String {
        patterns.map { parts in
            parts.map { part -> String in
                switch part {
                case .literal(let s): return Self.regexEscaped(s)
                case .anyRun: return any + "*"
                case .anyOne: return any
                }
            }.joined()
        }.joined(separator: "|")
    }

    static func regexEscaped(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if "\\^$.|?*+()[]{}".unicodeScalars.contains(u) { out.append("\\") }
            out.append(u)
        }
        return String(out)
    }

    private func keys(_ path: [String]) -> String { JSONText.array(path) }

    private func match(_ field: AuditField, _ test: ValueTest) -> String {
        switch field {
        case .text(let column), .integer(let column):
            let c = Self.identifier(column)
            switch test {
            case .exists(let present): return "(\(c) IS \(present ? "NOT " : "")NULL)"
            case .isNull: return "(\(c) IS NULL)"
            default:
                if case .integer = field { return "(\(c) IS NOT NULL AND \(scalar(c, test, typed: .number)))" }
                return "(\(c) IS NOT NULL AND \(scalar(c, test, typed: .text)))"
            }
        case .list(let column):
            return elements(of: listSource(Self.identifier(column)), test, typed: .text)
        case .json(let column, let path):
            if case .bool(let b) = test {
                switch engine {
                case .sqlite: return "kubetrail_json_bool(\(Self.identifier(column)), \(Self.literal(keys(path))), \(b ? 1 : 0))"
                case .postgres:
                    let jsonPath = "lax $" + path.map { "." + Self.jsonString($0) }.joined() + "[*] ? (@ == \(b))"
                    return "jsonb_path_exists(\(Self.identifier(column))::jsonb, \(Self.literal(jsonPath)))"
                }
            }
            return elements(of: jsonSource(Self.identifier(column), path), test, typed: .json)
        }
    }

    /// What kind of value an expression holds, which decides how a number or boolean compares.
    private enum Typed { case text, number, json }

    /// EXISTS over the elements of a list or the values a JSON path reaches; `e.value` is each.
    private func elements(of source: String, _ test: ValueTest, typed: Typed) -> String {
        switch test {
        case .exists(let present): return "(\(present ? "" : "NOT ")EXISTS (SELECT 1 FROM \(source)))"
        case .isNull: return "(NOT EXISTS (SELECT 1 FROM \(source) WHERE \(notNull(typed))))"
        default: return "(EXISTS (SELECT 1 FROM \(source) WHERE \(notNull(typed)) AND \(scalar(elementValue(typed), test, typed: typed))))"
        }
    }

    private func listSource(_ column: String) -> String {
        switch engine {
        case .sqlite: return "json_each(\(column)) AS e"
        case .postgres: return "unnest(\(column)) AS e(value)"
        }
    }

    private func jsonSource(_ column: String, _ path: [String]) -> String {
        switch engine {
        case .sqlite:
            return "json_each(kubetrail_json_values(\(column), \(Self.literal(keys(path))))) AS e"
        case .postgres:
            // Lax mode steps into an array at each member accessor; `[*]` at the end yields a
            // final array's elements, or the value itself when it is not one.
            let jsonPath = "lax $" + path.map { "." + Self.jsonString($0) }.joined() + "[*]"
            return "jsonb_array_elements(jsonb_path_query_array(\(column)::jsonb, \(Self.literal(jsonPath)))) AS e(value)"
        }
    }

    private func notNull(_ typed: Typed) -> String {
        switch (engine, typed) {
        case (.sqlite, .json): return "e.type <> 'null'"
        case (.postgres, .json): return "jsonb_typeof(e.value) <> 'null'"
        default: return "e.value IS NOT NULL"
        }
    }

    /// A JSON element's text, for text tests: a string's own characters, a number's digits.
    private func elementValue(_ typed: Typed) -> String {
        engine == .postgres && typed == .json ? "(e.value #>> '{}')" : "e.value"
    }

    /// A test on one non-null value `v`.
    private func scalar(_ v: String, _ test: ValueTest, typed: Typed) -> String {
        switch test {
        case .equals(let text):
            switch engine {
            case .sqlite where text.utf8.allSatisfy({ $0 < 0x80 }): return "\(v) = \(Self.literal(text)) COLLATE NOCASE"
            case .sqlite: return "match(\(Self.literal(Self.likeEscaped(text))), \(v), '\\')"
            case .postgres: return "lower(\(v)) = lower(\(Self.literal(text)))"
            }
        case .wildcard(let parts):
            let pattern = parts.map { part -> String in
                switch part {
                case .literal(let s): return Self.likeEscaped(s)
                case .anyRun: return "%"
                case .anyOne: return "_"
                }
            }.joined()
            switch engine {
            case .sqlite: return "match(\(Self.literal(pattern)), \(v), '\\')"
            case .postgres: return "\(v) ILIKE \(Self.literal(pattern)) ESCAPE '\\'"
            }
        case .number(let n):
            let number = Self.number(n)
            switch (engine, typed) {
            case (_, .number), (.sqlite, _): return "\(v) = \(number)"
            case (.postgres, .json): return "(jsonb_typeof(e.value) = 'number' AND e.value = \(Self.literal(number))::jsonb)"
            case (.postgres, .text): return "\(v) = \(Self.literal(number))"
            }
        case .bool(let b):
            switch (engine, typed) {
            case (.sqlite, .json): return "e.type = '\(b)'"
            case (.postgres, .json): return "e.value = '\(b)'::jsonb"
            default: return "lower(\(v)) = '\(b)'"
            }
        case .regex(let pattern):
            switch engine {
            case .sqlite: return "regexp(\(Self.literal(pattern)), \(v))"
            case .postgres: return "\(v) ~ \(Self.literal(pattern))"
            }
        case .cidr(let network):
            // The same function on both engines: SQLite's registered on its query connections,
            // PostgreSQL's made by the schema migration (an address that is not one is false
            // there, where a cast would fail the whole query).
            return "kubetrail_in_cidr(\(v), \(Self.literal(network)))"
        case .exists, .isNull:
            preconditionFailure("handled by the callers")
        }
    }

    // MARK: Literals

    static func literal(_ s: String) -> String { SQLText.literal(s) }

    static func identifier(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    static func likeEscaped(_ s: String) -> String { SQLText.likeEscaped(s) }

    /// `s` as a JSON string: the key syntax of a PostgreSQL JSON path and of the SQLite functions' key lists.
    static func jsonString(_ s: String) -> String { JSONText.string(s) }

    static func number(_ n: Double) -> String { SigmaRule.text(n) }
}
