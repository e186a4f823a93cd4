import Foundation

/// Locates `../shared/fixtures` beside the repository (how CI and every session lay it out).
public enum Fixtures {
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        // Tests/TestSupport/Fixtures.swift -> repository root
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    public static let root: URL = {
        if let env = ProcessInfo.processInfo.environment["KUBETRAIL_FIXTURES"] {
            return URL(fileURLWithPath: env)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }()

    public static func url(_ relative: String) -> URL {
        root.appendingPathComponent(relative)
    }

    public static func data(_ relative: String) throws -> Data {
        try Data(contentsOf: url(relative))
    }

    public static func text(_ relative: String) throws -> String {
        String(decoding: try data(relative), as: UTF8.self)
    }

    /// Every regular file below `relative`, sorted, as paths relative to the fixtures root.
    public static func files(under relative: String, withExtension ext: String? = nil) -> [String] {
        let base = url(relative)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        var out: [String] = []
        for case let file as URL in walker {
            guard (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            if let ext, file.pathExtension != ext { continue }
            out.append(relative + "/" + file.path.dropFirst(base.path.count + 1))
        }
        return out.sorted()
    }
}
