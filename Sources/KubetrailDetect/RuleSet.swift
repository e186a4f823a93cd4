import Foundation

/// The rules a run uses: kubetrail's built-in pack, then the files of `--rules` directories (a
/// file with a built-in rule's id replaces it: copy a rule, edit it, point `--rules` at it).
public struct RuleSet: Sendable {
    public var detections: [Detection]
    /// Built-in rules replaced by a user's file of the same id.
    public var replaced: [String] = []

    public init(detections: [Detection]) { self.detections = detections }

    /// Loads every rule; the first bad file is an error naming it (and its line).
    public static func load(directories: [String], builtIn: Bool = true) throws -> RuleSet {
        var set = RuleSet(detections: [])
        if builtIn {
            for file in BuiltInRules.files {
                set.detections.append(try Detection(try SigmaRule.parse(file.text, file: "built-in:" + file.name), builtIn: true))
            }
        }
        for directory in directories {
            for path in try ruleFiles(in: directory) {
                let d = try Detection(try SigmaRule.load(path: path))
                if let i = set.detections.firstIndex(where: { $0.id == d.id }) {
                    guard set.detections[i].builtIn else {
                        throw SigmaError(file: path, line: nil, construct: "id: \(d.id)", "is also the id of \(set.detections[i].file)")
                    }
                    set.replaced.append(d.id)
                    set.detections[i] = d
                } else {
                    set.detections.append(d)
                }
            }
        }
        return set
    }

    /// The `.yml`/`.yaml` files under `directory`, in name order (a file given directly is itself).
    static func ruleFiles(in directory: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw SigmaError(file: directory, line: nil, "does not exist")
        }
        guard isDirectory.boolValue else { return [directory] }
        guard let walker = FileManager.default.enumerator(atPath: directory) else { throw SigmaError(file: directory, line: nil, "cannot be read") }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            if relative.hasSuffix(".yml") || relative.hasSuffix(".yaml") { files.append((directory as NSString).appendingPathComponent(relative)) }
        }
        return files.sorted()
    }

    /// The rules `--rule` names (by id, Sigma name or file name); every name must match one.
    public func selecting(_ names: [String]) throws -> RuleSet {
        guard !names.isEmpty else { return self }
        var picked: [Detection] = []
        for name in names {
            let matching = detections.filter { $0.isNamed(name) }
            guard !matching.isEmpty else { throw UnknownRule(name: name) }
            for d in matching where !picked.contains(where: { $0.id == d.id }) { picked.append(d) }
        }
        var set = RuleSet(detections: picked)
        set.replaced = replaced
        return set
    }

    public struct UnknownRule: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "no rule has the id or name \(name) (kubetrail detect --list shows them)" }
    }
}
