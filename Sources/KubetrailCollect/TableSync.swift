import Foundation
import KubetrailCore
import KubetrailKube
import KubetrailStore
import KubetrailTables

/// Applies a reflector's events to the store: resources are kept current (a DELETED event
/// removes the row, a relist removes rows whose objects vanished), events are kept as history
/// (their expiry in the API — one hour by default — removes nothing here, which is the point of
/// collecting them).
public final class TableSync {
    public enum Target: Sendable, Equatable {
        case events
        /// Resources of this kind (`Pod`, `Deployment`, …).
        case resources(kind: String)
    }

    public struct Counts: Sendable, Equatable {
        public var stored = 0
        public var removed = 0
        public var rejected = 0
        /// Why, by reason.
        public var rejectedBecause: [String: Int] = [:]
        /// Namespaced objects outside the configured namespaces.
        public var filtered = 0
    }

    public let target: Target
    let store: any Store
    let context: IngestContext
    public private(set) var counts = Counts()

    /// `["*"]` or the namespaces whose objects are stored; cluster-scoped objects always are.
    let namespaces: [String]
    /// Events whose last occurrence falls outside this range are not stored (`collect --from/--to`).
    public var eventWindow: ClosedRange<Timestamp>?

    /// The group version of the collection (`v1`, `apps/v1`): list items do not say it.
    let apiVersion: String?

    public init(target: Target, store: any Store, context: IngestContext, namespaces: [String] = ["*"], apiVersion: String? = nil) {
        self.apiVersion = apiVersion
        self.target = target
        self.store = store
        self.context = context
        self.namespaces = namespaces
    }

    func allows(_ object: ScannedKubeObject) -> Bool {
        guard !namespaces.contains("*") else { return true }
        guard let ns = object.namespace, !ns.isEmpty else { return true }
        return namespaces.contains(ns)
    }

    /// Ids stored by the list being paged through (what a relist keeps).
    private var listed = Set<String>()
    /// Watch events not committed yet, in order, and since when the oldest waits.
    private var pending: [Reflector.Event] = []
    private var pendingSince: DispatchTime?
    /// Watch events are committed in transactions of up to this many, or after this long.
    public var batchSize = 500
    public var batchDelay = 0.1

    /// Applies one reflector event. Watch events are held and committed in batches (a
    /// transaction per object costs more than the object); `.idle` and the next list commit them.
    public func apply(_ event: Reflector.Event) throws {
        switch event {
        case .listed(let items, let first):
            try flush()
            if first { listed.removeAll(keepingCapacity: true) }
            let ids = try store.write { w -> [String] in try items.compactMap { try store($0, w) } }
            if case .resources = target { listed.formUnion(ids) }
        case .synced:
            try flush()
            if case .resources(let kind) = target {
                try store.write { w in
                    let scope = namespaces.contains("*") ? nil : namespaces
                    for gone in try w.resourceIDs(kind: kind, cluster: context.clusterName, namespaces: scope).subtracting(listed) {
                        if try w.delete(table: ResourceRow.schema, id: gone) { counts.removed += 1 }
                    }
                }
            }
            listed.removeAll()
        case .added, .modified, .deleted:
            if pending.isEmpty { pendingSince = .now() }
            pending.append(event)
            if pending.count >= batchSize { try flush() }
        case .idle:
            if let since = pendingSince, DispatchTime.now().uptimeNanoseconds - since.uptimeNanoseconds >= UInt64(batchDelay * 1e9) {
                try flush()
            }
        }
    }

    /// Commits the held watch events in one transaction.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        // Cleared only once committed: a failed write keeps the events for the next attempt.
        try store.write { w in
            for event in pending {
                switch event {
                case .added(let item), .modified(let item):
                    _ = try store(item, w)
                case .deleted(let item):
                    guard case .resources = target, let uid = Self.uid(item) else { continue }  // events are history
                    if try w.delete(table: ResourceRow.schema, id: uid) { counts.removed += 1 }
                default:
                    continue
                }
            }
        }
        pending.removeAll(keepingCapacity: true)
        pendingSince = nil
    }

    /// Normalizes and upserts one object; returns its row id, nil when rejected — except that a
    /// resource rejected for its content still exists, so its uid is returned and a relist keeps
    /// the row it had.
    private func store(_ item: Data, _ w: any StoreTransaction) throws -> String? {
        var scanned: ScannedKubeObject?
        do {
            let object = try ScannedKubeObject(Array(item))
            scanned = object
            guard allows(object) else { counts.filtered += 1; return nil }
            // List items carry no kind (nor apiVersion), and metadata-only items say PartialObjectMetadata.
            if case .resources(let kind) = target, object.kind == nil || object.kind == "PartialObjectMetadata" {
                object.kindOverride = kind
            }
            object.apiVersionOverride = apiVersion
            switch target {
            case .events:
                let row = try EventNormalizer.row(object, context: context)
                if let eventWindow, !eventWindow.contains(row.common.timestamp) { counts.filtered += 1; return nil }
                _ = try w.insert(row)
                counts.stored += 1
                return row.common.id
            case .resources:
                let row = try ResourceNormalizer.row(object, context: context)
                _ = try w.insert(row)
                counts.stored += 1
                return row.common.id
            }
        } catch let rejection as Rejection {
            counts.rejected += 1
            counts.rejectedBecause[rejection.reason, default: 0] += 1
            if case .resources = target { return scanned?.uid }
            return nil
        }
    }

    static func uid(_ item: Data) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: item) as? [String: Any] else { return nil }
        return (json["metadata"] as? [String: Any])?["uid"] as? String
    }
}
