import Foundation

/// How bad a finding is: Sigma's levels, in order.
public enum Severity: String, CaseIterable, Comparable, Sendable {
    case informational, low, medium, high, critical

    public static func < (a: Severity, b: Severity) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One rule ready to run: what a finding says about it, and its predicate over an audit row.
public struct Detection: Sendable {
    /// The rule's own `id` (a Sigma rule keeps its UUID); the file's name when it has none.
    public var id: String
    public var name: String?
    public var title: String
    /// Kept with every finding: the Detection Rule License of SigmaHQ's rules asks for it.
    public var author: String
    public var description: String
    public var severity: Severity
    /// MITRE ATT&CK tactic ids, then technique ids.
    public var mitre: [String]
    public var falsePositives: [String]
    public var file: String
    /// True for the rules kubetrail ships.
    public var builtIn: Bool
    public var predicate: DetectionPredicate

    public init(_ rule: SigmaRule, builtIn: Bool = false) throws {
        let stem = ((rule.file as NSString).lastPathComponent as NSString).deletingPathExtension
        id = rule.id ?? stem
        name = rule.name
        title = rule.title
        author = rule.author ?? ""
        description = rule.description?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if let level = rule.level {
            guard let s = Severity(rawValue: level.lowercased()) else {
                throw SigmaError(file: rule.file, line: nil, construct: "level: \(level)", "is not a Sigma level (informational, low, medium, high, critical)")
            }
            severity = s
        } else {
            severity = .medium
        }
        mitre = rule.mitreTactics + rule.mitreTechniques
        falsePositives = rule.falsePositives
        file = rule.file
        self.builtIn = builtIn
        predicate = try rule.predicate()
    }

    /// What `--rule` may name it by: its id, its Sigma name, or its file's name without `.yml`.
    public func isNamed(_ text: String) -> Bool {
        let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        return text == id || text == name || text == stem
    }
}
