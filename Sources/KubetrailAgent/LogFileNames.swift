#if canImport(Glibc)
import Glibc
#endif

/// Shell-style matching of one path component (fnmatch(3)).
enum GlobMatch {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }

    static func hasMagic(_ s: String) -> Bool { s.contains { $0 == "*" || $0 == "?" || $0 == "[" } }
}

/// What the agent knows about file names, decided once per file from its name alone.
enum LogFileNames {
    /// Compressed or half-written rotations are never read: their bytes were read before, under
    /// the plain name, or are gone.
    static func isNeverRead(_ name: String) -> Bool {
        name.hasSuffix(".gz") || name.contains(".gz.") || name.hasSuffix(".tmp") || name.hasPrefix(".")
    }

    /// kubelet's live file: `<restart>.log`.
    static func isLiveContainerLog(_ name: String) -> Bool {
        guard name.hasSuffix(".log") else { return false }
        let stem = name.dropLast(4)
        return !stem.isEmpty && stem.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// kubelet's rotated file: `<restart>.log.<timestamp>` (not compressed).
    static func isRotatedContainerLog(_ name: String) -> Bool {
        guard let r = name.firstRange(of: ".log.") else { return false }
        let stem = name[..<r.lowerBound]
        return !stem.isEmpty && stem.allSatisfy { $0.isASCII && $0.isNumber } && !isNeverRead(name)
    }

    /// lumberjack's backup name: `<stem>-2006-01-02T15-04-05.000<ext>`.
    static func isLumberjackBackup(_ name: String) -> Bool {
        let dot = name.lastIndex(of: ".") ?? name.endIndex
        let stem = name[..<dot]
        guard stem.count > 24 else { return false }
        let stamp = Array(stem.suffix(24))  // "-2006-01-02T15-04-05.000"
        let shape = Array("-0000-00-00T00-00-00.000")
        for (c, s) in zip(stamp, shape) {
            if s == "0" { guard c.isASCII && c.isNumber else { return false } } else if c != s { return false }
        }
        return true
    }

    /// `<pod>_<namespace>_<container>-<64 hex>.log` → (namespace, container id).
    static func containerLink(_ name: String) -> (namespace: String, containerID: String)? {
        guard name.hasSuffix(".log") else { return nil }
        let fields = name.dropLast(4).split(separator: "_", omittingEmptySubsequences: false)
        guard fields.count == 3, let dash = fields[2].lastIndex(of: "-") else { return nil }
        let id = fields[2][fields[2].index(after: dash)...]
        guard id.count == 64, id.allSatisfy({ $0.isHexDigit }) else { return nil }
        return (String(fields[1]), String(id))
    }

    /// `/var/log/pods/<namespace>_<pod>_<uid>/<container>` → namespace.
    static func podDirectoryNamespace(_ containerDirectory: String) -> String? {
        let parts = containerDirectory.split(separator: "/")
        guard parts.count >= 2 else { return nil }
        let pod = parts[parts.count - 2].split(separator: "_", omittingEmptySubsequences: false)
        return pod.count == 3 ? String(pod[0]) : nil
    }

    /// The restart number a kubelet file name belongs to.
    static func restart(of name: String) -> Int? {
        guard let dot = name.firstIndex(of: ".") else { return nil }
        return Int(name[..<dot])
    }
}
