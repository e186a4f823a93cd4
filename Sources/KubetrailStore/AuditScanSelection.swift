/// The rows an audit scan is for, by verb and resource, compared with ASCII letters folded: a
/// row is selected when one alternative holds both its verb and its resource (nil holds any).
/// Detection rules name the verbs and resources they can match; rows no rule can match (most
/// `get`s, `list`s and `watch`es) are then dropped by the engine, where on PostgreSQL they
/// would otherwise be formatted, sent and parsed for nothing.
public struct AuditScanSelection: Sendable, Equatable {
    public struct Alternative: Sendable, Equatable {
        /// Lower case, ASCII; nil for any value (NULL included).
        public var verbs: [String]?
        public var resources: [String]?

        public init(verbs: [String]?, resources: [String]?) {
            self.verbs = verbs
            self.resources = resources
        }
    }

    public var alternatives: [Alternative]

    /// Nil when some alternative holds every row, or when there is none (no rules: a scan of
    /// everything, as the benchmark times it).
    public init?(_ alternatives: [Alternative]) {
        guard !alternatives.isEmpty, !alternatives.contains(where: { $0.verbs == nil && $0.resources == nil }) else { return nil }
        precondition(
            alternatives.allSatisfy { a in (a.verbs ?? []).allSatisfy(Self.isFoldedASCII) && (a.resources ?? []).allSatisfy(Self.isFoldedASCII) },
            "a selection's values are lower-case ASCII")
        self.alternatives = Self.merged(alternatives)
    }

    private static func isFoldedASCII(_ s: String) -> Bool { s.utf8.allSatisfy { $0 < 0x80 && !($0 >= 0x41 && $0 <= 0x5A) } }

    /// Alternatives with the same resources share one verb list (and then the same verbs one
    /// resource list), so the condition stays short for a pack of 50 rules.
    private static func merged(_ alternatives: [Alternative]) -> [Alternative] {
        func union(_ lists: [[String]?]) -> [String]? {
            lists.contains { $0 == nil } ? nil : Set(lists.flatMap { $0! }).sorted()
        }
        var byResources: [[String]?: [[String]?]] = [:]
        for a in alternatives { byResources[a.resources.map { Set($0).sorted() }, default: []].append(a.verbs) }
        var byVerbs: [[String]?: [[String]?]] = [:]
        for (resources, verbs) in byResources { byVerbs[union(verbs), default: []].append(resources) }
        return byVerbs.map { Alternative(verbs: $0.key, resources: union($0.value)) }
            .sorted { "\($0.verbs ?? [])\($0.resources ?? [])" < "\($1.verbs ?? [])\($1.resources ?? [])" }
    }

    /// The condition in SQL; `folded` writes a column lowered in ASCII letters only (as the
    /// evaluator folds), whatever the database's locale.
    func sql(folded: (String) -> String, literal: (String) -> String) -> String {
        let terms = alternatives.map { a -> String in
            var parts: [String] = []
            if let v = a.verbs { parts.append("\(folded("verb")) IN (\(v.map(literal).joined(separator: ", ")))") }
            if let r = a.resources { parts.append("\(folded("resource")) IN (\(r.map(literal).joined(separator: ", ")))") }
            return "(" + parts.joined(separator: " AND ") + ")"
        }
        return "(" + terms.joined(separator: " OR ") + ")"
    }
}
