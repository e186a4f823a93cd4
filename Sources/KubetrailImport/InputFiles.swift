import Foundation
import KubetrailCore

/// Resolves `import` arguments into inputs: `-` is stdin, a directory contributes its log and
/// JSON files (recursively, sorted), `.gz` files are inflated on the fly.
public enum InputFiles {
    public struct Input: Sendable, Equatable {
        public var path: String
        public var isStandardInput: Bool { path == "-" }
        public var isCompressed: Bool { path.hasSuffix(".gz") }
    }

    static let extensions = [".log", ".json", ".jsonl"]

    public static func expand(_ arguments: [String]) throws -> [Input] {
        var out: [Input] = []
        for arg in arguments {
            if arg == "-" { out.append(Input(path: "-")); continue }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: arg, isDirectory: &isDir) else {
                throw IOError(path: arg, message: "no such file or directory")
            }
            guard isDir.boolValue else { out.append(Input(path: arg)); continue }
            let base = URL(fileURLWithPath: arg)
            guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else { continue }
            var found: [String] = []
            for case let url as URL in walker {
                let name = url.lastPathComponent
                let plain = name.hasSuffix(".gz") ? String(name.dropLast(3)) : name
                guard extensions.contains(where: { plain.hasSuffix($0) }) else { continue }
                // Follows symlinks, as /var/log/containers holds links into /var/log/pods.
                var targetIsDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: url.resolvingSymlinksInPath().path, isDirectory: &targetIsDir),
                      !targetIsDir.boolValue else { continue }
                found.append(url.path)
            }
            out.append(contentsOf: found.sorted().map { Input(path: $0) })
        }
        return out
    }

    static func open(_ input: Input) throws -> (ByteSource, FileDescriptorSource) {
        let raw = input.isStandardInput ? FileDescriptorSource(standardInput: ()) : try FileDescriptorSource(path: input.path)
        if input.isCompressed { return (try GzipSource(raw, path: input.path), raw) }
        return (raw, raw)
    }
}
