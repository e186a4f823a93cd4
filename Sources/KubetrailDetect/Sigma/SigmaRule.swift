import Foundation
import KubetrailCore
import Yams

/// A Sigma rule for Kubernetes audit logs (`logsource: product: kubernetes, service: audit`),
/// read from its YAML as SigmaHQ publishes it. Fields kubetrail does not use (references,
/// author, dates, status) are kept for listing; constructs it cannot compile are errors.
public struct SigmaRule: Equatable, Sendable {
    public var file: String
    public var id: String?
    /// Sigma's optional unique name (`kubetrail_privileged_pod`): what `--rule` may say instead of the id.
    public var name: String?
    public var title: String
    public var description: String?
    public var status: String?
    public var level: String?
    public var tags: [String]
    public var falsePositives: [String]
    public var references: [String]
    public var author: String?
    public var searches: [String: SigmaSearch]
    public var condition: SigmaCondition

    /// MITRE ATT&CK technique ids from the tags (`attack.t1609` → `T1609`, `attack.t1552.007` → `T1552.007`).
    public var mitreTechniques: [String] {
        tags.compactMap { tag in
            let t = tag.lowercased()
            guard t.hasPrefix("attack.t"), t.dropFirst("attack.t".count).first?.isNumber == true else { return nil }
            return "T" + t.dropFirst("attack.t".count)
        }
    }

    /// MITRE ATT&CK tactic ids from the tags (`attack.privilege-escalation` → `TA0004`): the
    /// enterprise matrix's fourteen; a tactic without an established id (v19's `stealth`) is left out.
    public var mitreTactics: [String] {
        tags.compactMap { Self.tactics[$0.lowercased().replacingOccurrences(of: "_", with: "-")] }
    }

    static let tactics: [String: String] = [
        "attack.reconnaissance": "TA0043", "attack.resource-development": "TA0042", "attack.initial-access": "TA0001",
        "attack.execution": "TA0002", "attack.persistence": "TA0003", "attack.privilege-escalation": "TA0004",
        "attack.defense-evasion": "TA0005", "attack.credential-access": "TA0006", "attack.discovery": "TA0007",
        "attack.lateral-movement": "TA0008", "attack.collection": "TA0009", "attack.command-and-control": "TA0011",
        "attack.exfiltration": "TA0010", "attack.impact": "TA0040"
    ]

    public static func load(path: String) throws -> SigmaRule {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SigmaError(file: path, line: nil, "cannot be read: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    /// Top-level keys a rule may have. Anything else is an error: a key kubetrail does not know
    /// may change what the rule means (`timeframe`, a correlation).
    static let knownKeys: Set<String> = [
        "title", "id", "name", "related", "status", "description", "references", "author", "date",
        "modified", "tags", "logsource", "detection", "falsepositives", "level", "fields", "license",
        "taxonomy", "scope"
    ]

    public static func parse(_ text: String, file: String) throws -> SigmaRule {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw SigmaError(file: file, line: nil, "is not YAML: \(error)")
        }
        guard let root, case .mapping(let top) = root else { throw SigmaError(file: file, line: root?.mark?.line, "is not a mapping of rule keys") }
        var keys: [String: Node] = [:]
        var keyLines: [String: Int] = [:]
        for (key, value) in top {
            guard let name = key.string else { throw SigmaError(file: file, line: key.mark?.line, "a key is not text") }
            guard knownKeys.contains(name) else {
                throw SigmaError(
                    file: file, line: key.mark?.line, construct: name,
                    "is not a rule key kubetrail supports (a multi-document rule, a correlation or an aggregation is not supported)")
            }
            keys[name] = value
            keyLines[name] = key.mark?.line
        }
        let reader = NodeReader(file: file)
        guard let title = keys["title"]?.string, !title.isEmpty else { throw SigmaError(file: file, line: root.mark?.line, construct: "title", "is missing") }
        try checkLogsource(keys["logsource"], line: keyLines["logsource"] ?? root.mark?.line, reader)
        guard let detectionNode = keys["detection"], case .mapping(let detection) = detectionNode else {
            throw SigmaError(file: file, line: keyLines["detection"] ?? root.mark?.line, construct: "detection", "is missing or not a mapping")
        }
        var searches: [String: SigmaSearch] = [:]
        var names: [String] = []
        var conditionNode: Node?
        for (key, value) in detection {
            guard let name = key.string else { throw SigmaError(file: file, line: key.mark?.line, "a detection key is not text") }
            switch name {
            case "condition": conditionNode = value
            case "timeframe":
                throw SigmaError(file: file, line: key.mark?.line, construct: name, "is not supported (it belongs to aggregations and correlations)")
            default:
                searches[name] = try reader.search(value, line: key.mark?.line)
                names.append(name)
            }
        }
        guard let conditionNode else { throw SigmaError(file: file, line: keyLines["detection"], construct: "condition", "is missing") }
        if case .sequence = conditionNode {
            throw SigmaError(
                file: file, line: conditionNode.mark?.line, construct: "condition",
                "a list of conditions is not supported (deprecated in Sigma): join them with `or`")
        }
        guard let conditionText = conditionNode.string else {
            throw SigmaError(file: file, line: conditionNode.mark?.line, construct: "condition", "is not text")
        }
        let condition = try SigmaCondition.parse(conditionText, searches: names, file: file, line: conditionNode.mark?.line)
        return SigmaRule(
            file: file, id: keys["id"]?.string, name: keys["name"]?.string, title: title, description: keys["description"]?.string,
            status: keys["status"]?.string,
            level: keys["level"]?.string, tags: try reader.strings(keys["tags"]), falsePositives: try reader.strings(keys["falsepositives"]),
            references: try reader.strings(keys["references"]), author: keys["author"]?.string, searches: searches, condition: condition)
    }

    static func checkLogsource(_ node: Node?, line: Int?, _ reader: NodeReader) throws {
        guard let node, case .mapping(let map) = node else {
            throw SigmaError(file: reader.file, line: line, construct: "logsource", "is missing or not a mapping")
        }
        var fields: [String: String] = [:]
        for (k, v) in map { if let key = k.string, let value = v.string { fields[key] = value.lowercased() } }
        guard fields["product"] == "kubernetes", fields["service"] == "audit" else {
            throw SigmaError(
                file: reader.file, line: line, construct: "logsource",
                "is not Kubernetes audit logs (product: kubernetes, service: audit); kubetrail runs rules over kubernetes_audit_logs only")
        }
    }
}

/// Reads the parts of a rule's YAML that are searches and values, with each node's line.
struct NodeReader {
    let file: String

    func strings(_ node: Node?) throws -> [String] {
        guard let node else { return [] }
        switch node {
        case .scalar: return node.string.map { [$0] } ?? []
        case .sequence(let items): return items.compactMap(\.string)
        default: throw SigmaError(file: file, line: node.mark?.line, "expected a list of text")
        }
    }

    /// A search: a map of field matches, a list of such maps, or a list of keywords. `line`:
    /// its name's, where keywords are said to be.
    func search(_ node: Node, line: Int?) throws -> SigmaSearch {
        switch node {
        case .mapping(let map):
            return .allOf(try map.map { key, value in try fieldMatch(key, value) })
        case .sequence(let items):
            guard let first = items.first else { throw SigmaError(file: file, line: node.mark?.line, "a search is an empty list") }
            if case .mapping = first {
                return .anyOf(
                    try items.map { item in
                        guard case .mapping = item else { throw SigmaError(file: file, line: item.mark?.line, "a list of field maps holds something else") }
                        return try search(item, line: item.mark?.line)
                    })
            }
            return .keywords(try items.map(value), line: line)
        case .scalar:
            return .keywords([try value(node)], line: line)
        case .alias:
            throw SigmaError(file: file, line: node.mark?.line, construct: "alias", "YAML aliases are not supported in a search")
        }
    }

    func fieldMatch(_ key: Node, _ value: Node) throws -> SigmaFieldMatch {
        guard let text = key.string else { throw SigmaError(file: file, line: key.mark?.line, "a field name is not text") }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        let field = parts[0]
        guard !field.isEmpty else {
            throw SigmaError(file: file, line: key.mark?.line, construct: text, "keyword searches with modifiers (a key with no field name) are not supported")
        }
        var modifiers: [SigmaModifier] = []
        for name in parts.dropFirst() {
            guard let modifier = SigmaModifier(rawValue: name.lowercased()) else {
                throw SigmaError(
                    file: file, line: key.mark?.line, construct: name,
                    "is not a modifier kubetrail supports (contains, startswith, endswith, all, re, cidr, exists)")
            }
            modifiers.append(modifier)
        }
        let values: [SigmaValue]
        switch value {
        case .sequence(let items):
            guard !items.isEmpty else {
                throw SigmaError(file: file, line: value.mark?.line, construct: text, "has an empty list of values, which would match nothing")
            }
            values = try items.map(self.value)
        default: values = [try self.value(value)]
        }
        let match = SigmaFieldMatch(field: field, modifiers: modifiers, values: values, line: key.mark?.line)
        try check(match, text)
        return match
    }

    /// Combinations that have no meaning, refused rather than guessed at.
    func check(_ m: SigmaFieldMatch, _ key: String) throws {
        let line = m.line
        let wildcardModifiers = m.modifiers.filter { [.contains, .startswith, .endswith].contains($0) }
        if wildcardModifiers.count > 1 { throw SigmaError(file: file, line: line, construct: key, "combines contains, startswith and endswith") }
        if m.modifiers.contains(.exists) {
            guard m.modifiers == [.exists], m.values.count == 1, case .bool = m.values[0] else {
                throw SigmaError(file: file, line: line, construct: key, "|exists takes true or false, alone")
            }
        }
        if m.modifiers.contains(.re), m.modifiers.contains(where: { $0 != .re && $0 != .all }) {
            throw SigmaError(file: file, line: line, construct: key, "|re combined with other modifiers is not supported")
        }
        if m.modifiers.contains(.cidr), m.modifiers.contains(where: { $0 != .cidr }) {
            throw SigmaError(file: file, line: line, construct: key, "|cidr combined with other modifiers is not supported")
        }
        if m.modifiers.contains(.cidr) {
            for case .string(let text) in m.values where IPNetwork(text) == nil {
                throw SigmaError(file: file, line: line, construct: "\(key): \(text)", "is not a network (10.0.0.0/8, fd00::/8)")
            }
        }
        if m.modifiers.contains(.re) {
            for case .string(let text) in m.values {
                do { _ = try NSRegularExpression(pattern: text) } catch {
                    throw SigmaError(file: file, line: line, construct: "\(key): \(text)", "is not a regular expression")
                }
                if let construct = Self.unportableRegexConstruct(text) {
                    throw SigmaError(
                        file: file, line: line, construct: "\(key): \(text)",
                        "uses \(construct), which SQLite (ICU) and PostgreSQL read differently or not at all; keep to classes, anchors, alternation, groups, lookahead and {m,n}"
                    )
                }
            }
        }
        if !m.modifiers.isEmpty, !m.modifiers.contains(.exists), m.values.contains(.null) {
            throw SigmaError(file: file, line: line, construct: key, "null with a modifier has no meaning")
        }
    }

    /// A construct of ICU's regular expressions that PostgreSQL's (ARE) reads otherwise or
    /// refuses: `\b` is a word boundary in one and a backspace in the other; `\p{…}`, named
    /// groups and inline flags are ICU's alone. Nil when the pattern keeps to what both share.
    static func unportableRegexConstruct(_ pattern: String) -> String? {
        let u = Array(pattern.unicodeScalars)
        var i = 0
        while i < u.count {
            if u[i] == "\\", i + 1 < u.count {
                if "bBpPAZzGKhRQEXNX".unicodeScalars.contains(u[i + 1]) { return "\\" + String(u[i + 1]) }
                i += 2
                continue
            }
            if u[i] == "(", i + 2 < u.count, u[i + 1] == "?" {
                let rest = String(String.UnicodeScalarView(u[(i + 2)...].prefix(2)))
                if !(rest.hasPrefix(":") || rest.hasPrefix("=") || rest.hasPrefix("!") || rest == "<=" || rest == "<!") { return "(?" + rest }
            }
            i += 1
        }
        return nil
    }

    func value(_ node: Node) throws -> SigmaValue {
        guard case .scalar(let scalar) = node else {
            throw SigmaError(file: file, line: node.mark?.line, "a value is a map or a list inside a list, which Sigma does not allow")
        }
        // Quoted text stays text ('403' is the string 403); plain scalars are typed as YAML types them.
        if scalar.style == .plain {
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .number(Double(i)) }
            if let d = node.float { return .number(d) }
        }
        return .string(scalar.string)
    }
}
