import Foundation
import KubetrailCore
import KubetrailKube
import KubetrailStore
import KubetrailTables

/// One list+watch per collection, each on its own thread, feeding the tables. A kind the
/// credentials may not read (403) is reported and retried now and then while the others keep
/// working.
public final class ClusterPollers: @unchecked Sendable {
    public struct Collection: Sendable, Equatable {
        public var target: TableSync.Target
        public var path: String

        /// `v1` for `/api/v1/…`, `apps/v1` for `/apis/apps/v1/…`.
        public var apiVersion: String? {
            let parts = path.split(separator: "/")
            if parts.first == "api", parts.count >= 2 { return String(parts[1]) }
            if parts.first == "apis", parts.count >= 3 { return "\(parts[1])/\(parts[2])" }
            return nil
        }

        public init(target: TableSync.Target, path: String) {
            self.target = target
            self.path = path
        }
    }

    /// Events plus the resource kinds the product documents.
    public static let standard: [Collection] = {
        var list = [Collection(target: .events, path: "/api/v1/events")]
        let core = [
            "Pod": "pods", "Service": "services", "Node": "nodes", "Namespace": "namespaces", "ConfigMap": "configmaps",
            "Secret": "secrets", "ServiceAccount": "serviceaccounts", "PersistentVolume": "persistentvolumes",
            "PersistentVolumeClaim": "persistentvolumeclaims"
        ]
        for (kind, plural) in core.sorted(by: { $0.key < $1.key }) { list.append(.init(target: .resources(kind: kind), path: "/api/v1/\(plural)")) }
        let grouped: [(String, String, String)] = [
            ("Deployment", "apps/v1", "deployments"), ("DaemonSet", "apps/v1", "daemonsets"), ("StatefulSet", "apps/v1", "statefulsets"),
            ("ReplicaSet", "apps/v1", "replicasets"), ("Job", "batch/v1", "jobs"), ("CronJob", "batch/v1", "cronjobs"),
            ("Ingress", "networking.k8s.io/v1", "ingresses"), ("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
            ("Role", "rbac.authorization.k8s.io/v1", "roles"), ("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings"),
            ("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles"),
            ("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings")
        ]
        for (kind, group, plural) in grouped { list.append(.init(target: .resources(kind: kind), path: "/apis/\(group)/\(plural)")) }
        return list
    }()

    public enum State: Sendable, Equatable {
        case starting
        case synced(items: Int)
        case forbidden(String)
        /// The API server does not serve the kind (404): skipped, looked for again now and then.
        case notServed
        case failing(String)
    }

    let client: KubeClient
    let store: any Store
    let context: IngestContext
    let collections: [Collection]
    /// How long a kind refused by RBAC or not served waits before it is tried again.
    let forbiddenRetry: Double
    let namespaces: [String]
    /// Events last seen outside this range are not stored (`collect --from`); set before `start()`.
    public var eventWindow: ClosedRange<Timestamp>?
    private let lock = NSLock()
    private var states: [String: State] = [:]
    private var tallies: [String: TableSync.Counts] = [:]
    private var stopped = false
    private var running = 0
    private let log: @Sendable (String) -> Void

    public init(
        client: KubeClient, store: any Store, context: IngestContext, collections: [Collection] = standard,
        namespaces: [String] = ["*"], forbiddenRetry: Double = 600, log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.namespaces = namespaces
        self.client = client
        self.store = store
        self.context = context
        self.collections = collections
        self.forbiddenRetry = forbiddenRetry
        self.log = log
    }

    /// Where each collection stands, by path.
    public var status: [String: State] { lock.withLock { states } }

    /// Rows stored, removed, rejected and filtered so far, by path.
    public var counts: [String: TableSync.Counts] { lock.withLock { tallies } }

    public func start() {
        for collection in collections {
            lock.withLock { states[collection.path] = .starting }
            lock.withLock { running += 1 }
            Thread { [self] in
                run(collection)
                lock.withLock { running -= 1 }
            }.start()
        }
    }

    public func stop() { lock.withLock { stopped = true } }

    /// After `stop()`: waits for every poller to commit what it holds and end.
    public func waitUntilStopped(timeout: Double) {
        let deadline = Date().addingTimeInterval(timeout)
        while lock.withLock({ running > 0 }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func run(_ collection: Collection) {
        let sync = TableSync(target: collection.target, store: store, context: context, namespaces: namespaces, apiVersion: collection.apiVersion)
        sync.eventWindow = eventWindow
        // Secrets: metadata only, so their values are never even received.
        let reflector = Reflector(client: client, path: collection.path, metadataOnly: collection.target == .resources(kind: "Secret"))
        defer { try? sync.flush() }  // what a stopped watch held
        while !isStopped {
            do {
                try reflector.run { [self] event in
                    if isStopped { throw Reflector.Stop.requested }
                    try sync.apply(event)
                    lock.withLock { tallies[collection.path] = sync.counts }
                    if case .synced(let count, _) = event {
                        lock.withLock { states[collection.path] = .synced(items: count) }
                        log("synced \(collection.path): \(count) objects")
                    }
                }
            } catch is Reflector.Stop {
                return
            } catch let failure as Reflector.Failure where failure.status == 403 {
                lock.withLock { states[collection.path] = .forbidden(failure.description) }
                log(
                    "forbidden: \(collection.path) cannot be listed with these credentials (RBAC); the other collections go on; retrying in \(Int(forbiddenRetry)) s"
                )
                sleepUnlessStopped(forbiddenRetry)
            } catch let failure as Reflector.Failure where failure.status == 404 {
                lock.withLock { states[collection.path] = .notServed }
                log("not served: this API server has no \(collection.path) (404); skipped, looked for again in \(Int(forbiddenRetry)) s")
                sleepUnlessStopped(forbiddenRetry)
            } catch {
                lock.withLock { states[collection.path] = .failing("\(error)") }
                log("\(collection.path): \(error); retrying")
                sleepUnlessStopped(5)
            }
        }
    }

    private func sleepUnlessStopped(_ seconds: Double) {
        let until = Date().addingTimeInterval(seconds)
        while !isStopped && Date() < until { Thread.sleep(forTimeInterval: 0.1) }
    }
}
