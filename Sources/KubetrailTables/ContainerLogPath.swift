/// Pod and container identity encoded in kubelet's log paths.
///
/// - `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log` (symlinks)
/// - `/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log` (the files,
///   rotated as `<n>.log.<timestamp>` and possibly gzipped)
public struct ContainerLogPath: Equatable, Sendable {
    public var namespace: String?
    public var podName: String?
    public var podUID: String?
    public var containerName: String?
    public var containerID: String?
    public var restartCount: Int64?

    public init(
        namespace: String? = nil, podName: String? = nil, podUID: String? = nil,
        containerName: String? = nil, containerID: String? = nil, restartCount: Int64? = nil
    ) {
        self.namespace = namespace
        self.podName = podName
        self.podUID = podUID
        self.containerName = containerName
        self.containerID = containerID
        self.restartCount = restartCount
    }

    /// `path` may carry the container id the agent learned from the `/var/log/containers` link
    /// as a fragment: `/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log#<64 hex>`.
    public init(path: String) {
        guard let hash = path.lastIndex(of: "#") else {
            self.init(parsing: path)
            return
        }
        let id = path[path.index(after: hash)...]
        self.init(parsing: String(path[..<hash]))
        if id.count == 64, id.allSatisfy({ $0.isHexDigit }) { containerID = String(id) }
    }

    private init(parsing path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let file = parts.last else { return }
        // /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log[.<rotation>][.gz]
        if parts.count >= 3 {
            let podDir = parts[parts.count - 3].split(separator: "_", omittingEmptySubsequences: false)
            let restart = file.split(separator: ".").first.flatMap { Int64($0) }
            if podDir.count == 3, restart != nil || file.hasSuffix(".log") {
                namespace = String(podDir[0])
                podName = String(podDir[1])
                podUID = String(podDir[2])
                containerName = parts[parts.count - 2]
                restartCount = restart
                return
            }
        }
        // /var/log/containers/<pod>_<ns>_<container>-<id>.log
        guard file.hasSuffix(".log") else { return }
        let stem = file.dropLast(4)
        let fields = stem.split(separator: "_", omittingEmptySubsequences: false)
        guard fields.count == 3, let dash = fields[2].lastIndex(of: "-") else { return }
        let id = fields[2][fields[2].index(after: dash)...]
        guard id.count == 64, id.allSatisfy({ $0.isHexDigit }) else { return }
        podName = String(fields[0])
        namespace = String(fields[1])
        containerName = String(fields[2][..<dash])
        containerID = String(id)
    }
}
