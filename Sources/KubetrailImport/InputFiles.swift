import Foundation
import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Resolves `import` arguments into inputs: `-` is stdin, a directory contributes its log and
/// JSON files (recursively, sorted), `.gz` files are inflated on the fly. Only regular files are
/// taken: a FIFO, a device or a socket would block the import or never end.
public enum InputFiles {
    public struct Input: Sendable, Equatable {
        public var path: String
        public var isStandardInput: Bool { path == "-" }
        public var isCompressed: Bool { path.hasSuffix(".gz") }
    }

    static let extensions = [".log", ".json", ".jsonl"]

    /// What a directory walk passes over is reported to `skipped` (standard error by default):
    /// an operator who drops a file into the directory should hear why it was not imported.
    public static func expand(
        _ arguments: [String],
        skipped: (String) -> Void = { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }
    ) throws -> [Input] {
        var out: [Input] = []
        for arg in arguments {
            if arg == "-" { out.append(Input(path: "-")); continue }
            var st = stat()
            guard stat(arg, &st) == 0 else {
                let code = errno
                throw code == ENOENT ? IOError(path: arg, message: "no such file or directory") : IOError(path: arg, errno: code)
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: out.append(contentsOf: walk(arg, skipped: skipped))
            case S_IFREG: out.append(Input(path: arg))
            default: throw IOError(path: arg, message: notRegular(st.st_mode) + " (use - to import from standard input)")
            }
        }
        return out
    }

    private static func walk(_ directory: String, skipped: (String) -> Void) -> [Input] {
        guard let walker = FileManager.default.enumerator(at: URL(fileURLWithPath: directory), includingPropertiesForKeys: nil) else { return [] }
        var found: [String] = []
        for case let url as URL in walker {
            let name = url.lastPathComponent
            let plain = name.hasSuffix(".gz") ? String(name.dropLast(3)) : name
            guard extensions.contains(where: { plain.hasSuffix($0) }) else { continue }
            // stat follows symlinks, as /var/log/containers holds links into /var/log/pods.
            var st = stat()
            guard stat(url.path, &st) == 0 else {
                skipped("skipped \(url.path): \(String(cString: strerror(errno)))")
                continue
            }
            switch st.st_mode & S_IFMT {
            case S_IFREG: found.append(url.path)
            case S_IFDIR: continue
            default: skipped("skipped \(url.path): \(notRegular(st.st_mode))")
            }
        }
        return found.sorted().map { Input(path: $0) }
    }

    static func notRegular(_ mode: mode_t) -> String {
        let kind =
            switch mode & S_IFMT {
            case S_IFIFO: "a FIFO"
            case S_IFCHR: "a character device"
            case S_IFBLK: "a block device"
            case S_IFSOCK: "a socket"
            case S_IFDIR: "a directory"
            default: "of an unknown type"
            }
        return "is \(kind), not a regular file"
    }

    static func open(_ input: Input) throws -> (ByteSource, InputSource) {
        let raw = try InputSource(input)
        if input.isCompressed { return (try GzipSource(raw, path: input.path), raw) }
        return (raw, raw)
    }
}
