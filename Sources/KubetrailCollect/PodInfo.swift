import Foundation
import KubetrailTables

/// What a log row needs to know about the pod a line came from, taken from the Pod object.
public struct PodInfo: Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var nodeName: String?
    /// Labels as canonical JSON text, nil when the pod has none.
    public var labels: String?
    public var labelMap: [String: String]
    public var containers: [String]
    public var phase: String?
    /// Per container: its current instance's id and restart count, and the id of the one before.
    public var statuses: [String: (id: String?, restartCount: Int64?, previousID: String?)]

    public init?(_ object: [String: Any]) {
        let meta = object["metadata"] as? [String: Any] ?? [:]
        guard let name = meta["name"] as? String else { return nil }
        self.name = name
        namespace = meta["namespace"] as? String ?? "default"
        uid = meta["uid"] as? String ?? "\(namespace)/\(name)"
        labelMap = meta["labels"] as? [String: String] ?? [:]
        labels = labelMap.isEmpty ? nil : KubeObject.jsonText(labelMap)
        let spec = object["spec"] as? [String: Any] ?? [:]
        nodeName = spec["nodeName"] as? String
        containers = (spec["containers"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        let status = object["status"] as? [String: Any] ?? [:]
        phase = status["phase"] as? String
        var statuses: [String: (id: String?, restartCount: Int64?, previousID: String?)] = [:]
        for s in status["containerStatuses"] as? [[String: Any]] ?? [] {
            guard let c = s["name"] as? String else { continue }
            let previous = ((s["lastState"] as? [String: Any])?["terminated"] as? [String: Any])?["containerID"] as? String
            statuses[c] = ((s["containerID"] as? String).map(Self.shortID), (s["restartCount"] as? NSNumber)?.int64Value, previous.map(Self.shortID))
        }
        self.statuses = statuses
    }

    /// `containerd://0123…` → `0123…`, as in the container_id column of file-read rows.
    public static func shortID(_ id: String) -> String { id.split(separator: "/").last.map(String.init) ?? id }

    public static func == (a: PodInfo, b: PodInfo) -> Bool {
        a.namespace == b.namespace && a.name == b.name && a.uid == b.uid && a.containers == b.containers
    }
}
