import Foundation
import KubetrailCore
import KubetrailKube
import KubetrailStore
import KubetrailTables

/// Reads one container's log through the API into a table. Lines are committed in small
/// transactions together with the stream's cursor, so a restarted collector resumes at the
/// last committed line: nothing lost, nothing twice.
final class ContainerLogStream {
    struct Counts {
        var stored = 0
        var duplicates = 0
        var skipped = 0
        var rejected = 0
        var malformed = 0
        var requests = 0
    }

    let follower: PodLogFollower
    let table: LogLineTable
    let store: any Store
    let cursorName: String
    let context: IngestContext
    private(set) var pod: PodInfo
    let container: String
    private var pending: [PendingLine] = []
    private var pendingBytes = 0
    private var pendingSince: DispatchTime?
    private(set) var counts = Counts()
    let shouldStop: () -> Bool
    let report: (String) -> Void
    let onCommit: (Counts) -> Void

    init(
        client: KubeClient, store: any Store, table: LogLineTable, pod: PodInfo, container: String, cursorScope: String,
        context: IngestContext, since: Timestamp?, until: Timestamp?, follow: Bool,
        shouldStop: @escaping () -> Bool, report: @escaping (String) -> Void, onCommit: @escaping (Counts) -> Void = { _ in }
    ) throws {
        self.table = table
        self.store = store
        self.pod = pod
        self.container = container
        self.shouldStop = shouldStop
        self.report = report
        self.onCommit = onCommit
        let name = "\(table.name):\(cursorScope):\(pod.uid)/\(container)"
        cursorName = name
        let saved = try store.write { w in try w.cursor(name) }.flatMap(LogCursor.init)
        follower = PodLogFollower(
            client: client, namespace: pod.namespace, pod: pod.name, uid: pod.uid, container: container,
            cursor: saved, since: since, until: until, follow: follow, report: report)
        var ctx = context
        ctx.sourceName = client.connection.server
        ctx.sourceLocation = follower.logPath
        if table == .audit { ctx.sourceName = pod.name }
        self.context = ctx
    }

    /// Reads until the log is read (or the pod is gone, or asked to stop); commits what it read.
    func run() throws -> PodLogFollower.End {
        let end: PodLogFollower.End
        do {
            end = try follower.run { event in
                switch event {
                case .pod(let object):
                    if let info = PodInfo(object) { try commit(); pod = info }
                case .line(let t, let ordinal, let instance, let message):
                    if pending.isEmpty { pendingSince = .now() }
                    pending.append(PendingLine(timestamp: t, ordinal: ordinal, instance: instance, message: Array(message)))
                    pendingBytes += message.count
                    if pending.count >= 2_000 || pendingBytes >= 4 << 20 { try commit() }
                case .tick:
                    // Lines arrive a chunk at a time: commit once they have waited a little, so a
                    // busy stream does not cost a transaction (and an fsync) per chunk.
                    if let since = pendingSince, DispatchTime.now().uptimeNanoseconds - since.uptimeNanoseconds >= 100_000_000 { try commit() }
                }
                return !shouldStop()
            }
        } catch {
            try? commit()
            throw error
        }
        try commit()
        return end
    }

    private func commit() throws {
        guard !pending.isEmpty, let cursor = follower.sequence.cursor else { return }
        var outcomes: [LogLineTable.Outcome] = []
        try store.write { w in
            for line in pending { outcomes += try table.write(line, pod: pod, container: container, context: context, w) }
            try w.setCursor(cursorName, cursor.description)
        }
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
        pendingSince = nil
        for outcome in outcomes {
            switch outcome {
            case .stored: counts.stored += 1
            case .duplicate: counts.duplicates += 1
            case .skipped: counts.skipped += 1
            case .rejected(let rejection):
                counts.rejected += 1
                report("\(pod.namespace)/\(pod.name)/\(container): line rejected: \(rejection.description)")
            }
        }
        counts.malformed = follower.malformedLines
        counts.requests = follower.requests
        onCommit(counts)
    }
}
