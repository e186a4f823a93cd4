import KubetrailCore
import KubetrailStore
import KubetrailTables

/// What the lines of a log stream become: pod-log rows, or — for kube-apiserver and audit
/// collector pods — audit events, where every other line (klog output) is skipped.
public enum LogLineTable: Sendable, Equatable {
    case podLogs
    case audit

    public var name: String { self == .podLogs ? PodLogRow.tableName : AuditLogRow.tableName }

    var sourceType: SourceType { self == .podLogs ? .podLogAPI : .apiserverLog }

    /// One line's outcome, for the counts.
    enum Outcome { case stored, duplicate, skipped, rejected(Rejection) }

    func write(_ line: PendingLine, pod: PodInfo, container: String, context: IngestContext, _ w: any StoreTransaction) throws -> [Outcome] {
        switch self {
        case .podLogs:
            // The line's own instance: the previous one's tail is read after a restart.
            let status = pod.statuses[container]
            let id = line.instance.map(PodInfo.shortID) ?? status?.id
            var restarts = status?.restartCount
            if let id, id != status?.id { restarts = id == status?.previousID ? restarts.map { max(0, $0 - 1) } : nil }
            let row = APIPodLogNormalizer.row(
                timestamp: line.timestamp, ordinal: line.ordinal, message: String(decoding: line.message, as: UTF8.self),
                pod: .init(namespace: pod.namespace, name: pod.name, uid: pod.uid, nodeName: pod.nodeName, labels: pod.labels),
                container: container, containerID: id, restartCount: restarts, context: context)
            return [try w.insert(row) == .duplicate ? .duplicate : .stored]
        case .audit:
            guard Self.looksLikeAuditEvent(line.message) else { return [.skipped] }
            var outcomes: [Outcome] = []
            try AuditDecoder.decode(line.message, context: context) { outcome in
                switch outcome {
                case .row(let row): outcomes.append(try w.insert(row) == .inserted ? .stored : .duplicate)
                case .rejected(let rejection): outcomes.append(.rejected(rejection))
                case .skipped: outcomes.append(.skipped)
                }
            }
            return outcomes
        }
    }

    /// The API server's stdout audit lines start `{"kind":"Event","apiVersion":"audit.k8s.io/…`;
    /// klog lines on stderr, interleaved with them, do not mention the audit group at all.
    static func looksLikeAuditEvent(_ bytes: [UInt8]) -> Bool {
        guard bytes.first == UInt8(ascii: "{") else { return false }
        let head = bytes.prefix(256)
        let needle = Array("\"audit.k8s.io/".utf8)
        guard head.count >= needle.count else { return false }
        for i in head.startIndex...(head.endIndex - needle.count) where head[i] == needle[0] {
            if head[i..<(i + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}

/// A line read but not yet committed.
struct PendingLine {
    var timestamp: Timestamp
    var ordinal: Int
    /// The container instance that wrote it (raw container ID), when known.
    var instance: String?
    var message: [UInt8]
}
