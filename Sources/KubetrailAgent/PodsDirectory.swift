#if canImport(Glibc)
import Glibc
#endif

/// kubelet's pod log directory (`--pods-dir`), the only place `/var/log/containers` links may
/// lead: a link is only a name, and whoever can write one could otherwise have the agent ship
/// any file on the node as a container log.
struct PodsDirectory {
    let path: String

    enum LinkTarget: Equatable {
        case inside(String)
        case outside(String)
        case dangling
    }

    /// Where a link leads, all links, `.` and `..` resolved, and whether that lies in this
    /// directory. When the host's `/var/log/pods` is mounted elsewhere in the agent's container,
    /// the link's absolute target is also looked up under `path`.
    func resolve(link: String) -> LinkTarget {
        // A pods directory that does not exist contains nothing: every target is outside it.
        let pods = canonicalPath(path).map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        func isInside(_ target: String) -> Bool { pods.map { target.hasPrefix($0) } ?? false }
        var outside: String?
        if let direct = canonicalPath(link) {
            if isInside(direct) { return .inside(direct) }
            outside = direct
        }
        let kubeletPods = "/var/log/pods"
        if path != kubeletPods, let raw = readLink(link), raw.hasPrefix(kubeletPods + "/"),
            let mapped = canonicalPath(path + raw.dropFirst(kubeletPods.count))
        {
            if isInside(mapped) { return .inside(mapped) }
            outside = mapped
        }
        return outside.map { .outside($0) } ?? .dangling
    }
}

/// realpath(3); nil when the path does not exist.
func canonicalPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// The text of a symlink, unresolved.
func readLink(_ path: String) -> String? {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4095) }
    return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
}
