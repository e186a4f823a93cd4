/// A rule's detection as a predicate over one audit row, fields resolved to where they are
/// stored and values to how they compare: what the SQL of each store is written from.
public indirect enum DetectionPredicate: Equatable, Sendable {
    case match(AuditField, ValueTest)
    case and([DetectionPredicate])
    case or([DetectionPredicate])
    case not(DetectionPredicate)
}

/// How one stored value is tested. Text comparisons ignore case, as Sigma's do.
public enum ValueTest: Equatable, Sendable {
    /// Equal to the text, ignoring case.
    case equals(String)
    /// Equal to the number.
    case number(Double)
    case bool(Bool)
    /// A wildcard pattern: `*` any run, `?` one character (escapes already applied: the
    /// pattern's parts say which characters are literal).
    case wildcard([WildcardPart])
    /// A regular expression, case-sensitive as Sigma's `|re` is.
    case regex(String)
    /// An address in the network.
    case cidr(String)
    /// The field is present (true) or absent (false).
    case exists(Bool)
    /// Absent or null.
    case isNull
}

public enum WildcardPart: Equatable, Sendable {
    case literal(String)
    case anyRun
    case anyOne
}

extension SigmaRule {
    /// The rule's predicate; a field the audit event does not have is an error naming it.
    public func predicate() throws -> DetectionPredicate {
        try predicate(condition)
    }

    private func predicate(_ c: SigmaCondition) throws -> DetectionPredicate {
        switch c {
        case .search(let name):
            // A parsed condition names only searches the rule has; a rule built by hand may not.
            guard let search = searches[name] else { throw SigmaError(file: file, line: nil, construct: name, "no search of this rule has this name") }
            return try predicate(search)
        case .not(let inner): return .not(try predicate(inner))
        case .and(let terms): return .and(try terms.map(predicate))
        case .or(let terms): return .or(try terms.map(predicate))
        }
    }

    private func predicate(_ s: SigmaSearch) throws -> DetectionPredicate {
        switch s {
        case .allOf(let matches):
            let terms = try matches.map(predicate)
            return terms.count == 1 ? terms[0] : .and(terms)
        case .anyOf(let searches):
            let terms = try searches.map(predicate)
            return terms.count == 1 ? terms[0] : .or(terms)
        case .keywords(_, let line):
            throw SigmaError(
                file: file, line: line, construct: "keywords",
                "field-less keyword searches are not supported: name the field (requestURI, requestObject.…)")
        }
    }

    private func predicate(_ m: SigmaFieldMatch) throws -> DetectionPredicate {
        guard let places = AuditField.places(m.field) else {
            throw SigmaError(
                file: file, line: m.line, construct: m.field, "is not a field of a Kubernetes audit event kubetrail maps (docs/detections.md lists them)")
        }
        let terms = try m.values.map { value -> DetectionPredicate in
            if let decision = try authorizationDecision(value, m) { return decision }
            let test = try test(for: value, m, places)
            let matches = places.map { DetectionPredicate.match($0, test) }
            return matches.count == 1 ? matches[0] : .or(matches)
        }
        if terms.count == 1 { return terms[0] }
        return m.modifiers.contains(.all) ? .and(terms) : .or(terms)
    }

    /// `responseStatus.code: 'ALLOW'` (SigmaHQ's enumeration rule) means the authorizer's
    /// decision, which the code cannot hold: compared with `authorization_decision`. Any other
    /// text on the integer code would never match, and is refused.
    private func authorizationDecision(_ value: SigmaValue, _ m: SigmaFieldMatch) throws -> DetectionPredicate? {
        guard m.field == "responseStatus.code", case .string(let text) = value, Double(text) == nil else { return nil }
        guard m.modifiers.isEmpty, ["allow", "forbid"].contains(text.lowercased()) else {
            throw SigmaError(file: file, line: m.line, construct: "\(m.field): \(text)", "an HTTP status code is a number; this would never match")
        }
        return .match(.text(column: "authorization_decision"), .equals(text.lowercased()))
    }

    private func test(for value: SigmaValue, _ m: SigmaFieldMatch, _ places: [AuditField]) throws -> ValueTest {
        let modifiers = Set(m.modifiers).subtracting([.all])
        switch value {
        case .null: return .isNull
        case .bool(let b):
            if modifiers == [.exists] { return .exists(b) }
            guard modifiers.isEmpty else { throw SigmaError(file: file, line: m.line, construct: m.field, "a true/false value takes no modifier") }
            return .bool(b)
        case .number(let n):
            guard modifiers.isEmpty else { return try test(for: .string(Self.text(n)), m, places) }
            return .number(n)
        case .string(let s) where modifiers.isEmpty && places.allSatisfy({ if case .integer = $0 { return true } else { return false } }):
            // '403' quoted in a rule is still the number 403 on an integer column.
            guard let n = Double(s) else { throw SigmaError(file: file, line: m.line, construct: m.field, "\(s) is not a number") }
            return .number(n)
        case .string(let s):
            if modifiers.contains(.re) { return .regex(s) }
            if modifiers.contains(.cidr) { return .cidr(s) }
            var parts = WildcardPart.parse(s)
            if modifiers.contains(.contains) || modifiers.contains(.endswith), parts.first != .anyRun { parts.insert(.anyRun, at: 0) }
            if modifiers.contains(.contains) || modifiers.contains(.startswith), parts.last != .anyRun { parts.append(.anyRun) }
            if parts.count == 1, case .literal(let text) = parts[0] { return .equals(text) }
            if parts.isEmpty { return .equals("") }
            return .wildcard(parts)
        }
    }

    /// A number as the text a rule meant (403, not 403.0).
    static func text(_ n: Double) -> String {
        n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
    }
}

extension WildcardPart {
    /// Sigma's wildcards: `*` and `?`, with `\*`, `\?` and `\\` for the characters themselves;
    /// any other backslash is a backslash.
    static func parse(_ s: String) -> [WildcardPart] {
        var parts: [WildcardPart] = []
        var literal = ""
        func flush() { if !literal.isEmpty { parts.append(.literal(literal)); literal = "" } }
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            let next = s.index(after: i)
            if c == "\\", next < s.endIndex, "*?\\".contains(s[next]) {
                literal.append(s[next])
                i = s.index(after: next)
                continue
            }
            switch c {
            case "*": flush(); if parts.last != .anyRun { parts.append(.anyRun) }
            case "?": flush(); parts.append(.anyOne)
            default: literal.append(c)
            }
            i = next
        }
        flush()
        return parts
    }
}
