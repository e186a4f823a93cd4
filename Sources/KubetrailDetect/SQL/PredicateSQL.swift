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
        case .match(let field, let test): return match(field, test)
        case .and(let terms): return terms.isEmpty ? "1 = 1" : "(" + terms.map(condition).joined(separator: " AND ") + ")"
        case .or(let terms): return terms.isEmpty ? "1 = 0" : "(" + terms.map(condition).joined(separator: " OR ") + ")"
        case .not(let inner): return "(NOT " + condition(inner) + ")"
        }
    }

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
            let keys = "[" + path.map(Self.jsonString).joined(separator: ",") + "]"
            return "json_each(kubetrail_json_values(\(column), \(Self.literal(keys)))) AS e"
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

    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    static func identifier(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// A LIKE pattern matching `s` literally, with `\` as the escape character.
    static func likeEscaped(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "%" || c == "_" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// `s` as a JSON string (quotes, backslashes and control characters escaped): the key syntax
    /// of a JSON path on PostgreSQL and of `kubetrail_json_values`' key list.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func number(_ n: Double) -> String { SigmaRule.text(n) }
}
