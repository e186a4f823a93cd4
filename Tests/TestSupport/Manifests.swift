import Foundation

/// The deployment manifests, read as text: what tests need from them without a YAML library.
public enum Manifests {
    public static func text(_ name: String) throws -> String {
        try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("manifests/base/\(name)"), encoding: .utf8)
    }

    /// A literal block (`key: |`) of the ConfigMap's data, de-indented.
    public static func configMapEntry(_ key: String) throws -> String {
        let lines = try text("configmap.yaml").components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "\(key): |" }) else {
            throw ServerError("no \(key) in manifests/base/configmap.yaml")
        }
        let indent = lines[start].prefix { $0 == " " }.count + 2
        var out: [String] = []
        for line in lines[(start + 1)...] {
            if !line.isEmpty && line.prefix(while: { $0 == " " }).count < indent { break }
            out.append(String(line.dropFirst(min(indent, line.count))))
        }
        return out.joined(separator: "\n")
    }

    /// Every `mountPath:` of a manifest.
    public static func mountPaths(_ name: String) throws -> [String] {
        try text(name).components(separatedBy: "\n").compactMap { line in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("mountPath: ") ? String(t.dropFirst("mountPath: ".count)) : nil
        }
    }
}
