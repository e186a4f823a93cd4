import Foundation
import KubetrailTables

/// How an imported container log file is recognised when it is imported again, under the same
/// or another path (a `/var/log/containers` link and its `/var/log/pods` target are one file).
/// Not the agent's `FileIdentity`, which names a file by device and inode while it is tailed.
enum ImportedFileKey {
    /// Metadata from both the given path and its symlink target: the link's name carries the
    /// container id, the target's path the pod uid and restart count.
    static func containerPath(for path: String) -> ContainerLogPath {
        var meta = ContainerLogPath(path: path)
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        if real != path {
            let target = ContainerLogPath(path: real)
            meta.namespace = meta.namespace ?? target.namespace
            meta.podName = meta.podName ?? target.podName
            meta.podUID = target.podUID ?? meta.podUID
            meta.containerName = meta.containerName ?? target.containerName
            meta.restartCount = target.restartCount ?? meta.restartCount
        }
        return meta
    }

    /// The first line's content plus whatever names the container. Content alone would merge two
    /// containers that printed the same first line; the name alone would re-import a renamed copy.
    static func fingerprint(firstLine: UnsafeRawBufferPointer, input: InputFiles.Input, path: ContainerLogPath) -> String {
        let head = String(decoding: UnsafeRawBufferPointer(rebasing: firstLine.prefix(4096)), as: UTF8.self)
        let owner: String
        if path.podUID != nil || path.podName != nil {
            owner = [path.namespace, path.podName, path.podUID, path.containerName, path.restartCount.map(String.init)]
                .map { $0 ?? "" }.joined(separator: "/")
        } else if input.isStandardInput {
            owner = "stdin"
        } else {
            var name = URL(fileURLWithPath: input.path).resolvingSymlinksInPath().lastPathComponent
            if name.hasSuffix(".gz") { name.removeLast(3) }
            owner = name
        }
        return RowID.hash([owner, head])
    }
}
