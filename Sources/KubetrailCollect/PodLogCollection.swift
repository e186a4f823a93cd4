import Foundation
import KubetrailCore
import KubetrailKube
import KubetrailStore
import KubetrailTables

/// Reads the logs of the selected pods' containers through the API into one table: once up to
/// now, or following them — new pods are found by listing again every `discoverEvery` seconds,
/// and each container's stream survives restarts (`PodLogFollower`). Each stream resumes from
/// its committed cursor, so running it again reads only what is new.
public final class PodLogCollection: @unchecked Sendable {
    public struct Summary: Sendable, Equatable {
        public var streams = 0
        public var stored = 0
        public var duplicates = 0
        /// Lines that are not for the table (klog output in an API server's log).
        public var skipped = 0
        public var rejected = 0
        public var malformed = 0
        public var failures: [String] = []
    }

    public typealias Failure = APIFailure

    let client: KubeClient
    let store: any Store
    let context: IngestContext
    public let table: LogLineTable
    /// Tried in order: the first that finds pods is used (the audit methods' fallback).
    let selections: [LogPodSelection]
    let follow: Bool
    let since: Timestamp?
    let until: Timestamp?
    let cursorScope: String
    public var discoverEvery: Double = 10
    public var parallel = 4
    public var retryDelay: Double = 1
    /// Called (from stream threads) after each commit with the totals so far.
    public var onProgress: (@Sendable (Summary) -> Void)?
    let log: @Sendable (String) -> Void

    private let lock = NSLock()
    private var stopped = false
    private var totals: [String: ContainerLogStream.Counts] = [:]
    /// Failure messages with how often each happened (a stream retried every round fails alike).
    private var failures: [String: Int] = [:]
    private var failureOrder: [String] = []
    private var active: Set<String> = []
    private var done: Set<String> = []
    private var chosen: String?

    public init(
        client: KubeClient, store: any Store, context: IngestContext, table: LogLineTable, selections: [LogPodSelection],
        follow: Bool, since: Timestamp? = nil, until: Timestamp? = nil, cursorScope: String,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.client = client
        self.store = store
        var ctx = context
        ctx.sourceType = table.sourceType
        self.context = ctx
        self.table = table
        self.selections = selections
        self.follow = follow
        self.since = since
        self.until = until
        self.cursorScope = cursorScope
        self.log = log
    }

    public func stop() { lock.withLock { stopped = true } }
    var isStopped: Bool { lock.withLock { stopped } }

    public var summary: Summary {
        lock.withLock {
            var s = Summary()
            s.streams = totals.count
            for c in totals.values {
                s.stored += c.stored
                s.duplicates += c.duplicates
                s.skipped += c.skipped
                s.rejected += c.rejected
                s.malformed += c.malformed
            }
            s.failures = failureOrder.map { m in failures[m, default: 1] > 1 ? "\(m) (\(failures[m, default: 1]) times)" : m }
            return s
        }
    }

    /// Not following: reads every selected container's log up to now (or `until`) and returns.
    /// Following: runs until `stop()`. A pod listing the credentials may not make is thrown
    /// when not following, and reported and retried when following.
    @discardableResult
    public func run() throws -> Summary {
        if !follow {
            let streams = try discover()
            runAll(streams)
            return summary
        }
        while !isStopped {
            do {
                let found = try discover()
                let keys = Set(found.map { $0.0.uid + "/" + $0.1 })
                lock.withLock { done.formIntersection(keys) }  // pods that are gone are forgotten
                for (pod, container, sourceType) in found {
                    let key = pod.uid + "/" + container
                    let start = lock.withLock { () -> Bool in
                        guard !active.contains(key), !done.contains(key) else { return false }
                        active.insert(key)
                        return true
                    }
                    if start { Thread { [self] in runOne(pod, container, sourceType, key: key) }.start() }
                }
            } catch {
                log("\(error)")
            }
            let until = Date().addingTimeInterval(discoverEvery)
            while !isStopped && Date() < until { Thread.sleep(forTimeInterval: 0.1) }
        }
        // Streams notice the stop within about a second and commit what they hold; a pod GET in
        // flight gives up after 15 s.
        let deadline = Date().addingTimeInterval(20)
        while lock.withLock({ !active.isEmpty }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return summary
    }

    private func runAll(_ streams: [(PodInfo, String, SourceType?)]) {
        let queue = WorkQueue(streams)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(parallel, streams.count)) {
            group.enter()
            Thread { [self] in
                while let (pod, container, sourceType) = queue.next(), !isStopped {
                    runOne(pod, container, sourceType, key: pod.uid + "/" + container)
                }
                group.leave()
            }.start()
        }
        group.wait()
    }

    private func runOne(_ pod: PodInfo, _ container: String, _ sourceType: SourceType?, key: String) {
        var finished = false
        var context = self.context
        if let sourceType { context.sourceType = sourceType }
        do {
            let stream = try ContainerLogStream(
                client: client, store: store, table: table, pod: pod, container: container, cursorScope: cursorScope,
                context: context, since: since, until: until, follow: follow,
                shouldStop: { [self] in isStopped }, report: log,
                onCommit: { [self] counts in
                    lock.withLock { totals[key] = counts }
                    if let onProgress { onProgress(summary) }
                })
            stream.follower.retryDelay = retryDelay
            lock.withLock { totals[key] = totals[key] ?? .init() }
            let end = try stream.run()
            lock.withLock { totals[key] = stream.counts }
            finished = end == .podGone || end == .podCompleted
        } catch {
            let message = "\(pod.namespace)/\(pod.name)/\(container): \(error)"
            let first = lock.withLock { () -> Bool in
                failures[message, default: 0] += 1
                if failures[message] == 1 { failureOrder.append(message); return true }
                return false
            }
            if first { log(message) }
        }
        lock.withLock {
            active.remove(key)
            if finished { done.insert(key) }
        }
    }

    /// The (pod, container) pairs to read, from the first selection that finds any pod.
    func discover() throws -> [(PodInfo, String, SourceType?)] {
        for selection in selections {
            let pods = try listPods(selection).filter(selection.accepts)
            guard !pods.isEmpty else { continue }
            let previous = lock.withLock { () -> String? in
                defer { chosen = selection.summary }; return chosen
            }
            if previous != selection.summary { log("\(table.name): reading \(selection.summary) (\(pods.count) found)") }
            return pods.flatMap { pod in selection.containers(pod).map { (pod, $0, selection.sourceType) } }
        }
        let previous = lock.withLock { () -> String? in
            defer { chosen = "" }; return chosen
        }
        if previous != "" {
            log("\(table.name): no pods found (looked for \(selections.map(\.summary).joined(separator: ", then ")))")
        }
        return []
    }

    private func listPods(_ selection: LogPodSelection) throws -> [PodInfo] {
        let paths = selection.namespaces.contains("*") ? ["/api/v1/pods"] : selection.namespaces.map { "/api/v1/namespaces/\($0)/pods" }
        var pods: [PodInfo] = []
        for path in paths {
            var next: String?
            repeat {
                var query: [(String, String)] = [("limit", "500")]
                if let selector = selection.labelSelector { query.append(("labelSelector", selector)) }
                if let next { query.append(("continue", next)) }
                let reply = try client.get(path + Reflector.encode(query))
                guard reply.status == 200 else {
                    let hint = reply.status == 403 ? " (RBAC: the credentials need list on pods and get on pods/log)" : ""
                    throw Failure(status: reply.status, description: "list \(path): HTTP \(reply.status)\(hint): \(reply.errorText)")
                }
                guard let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any] else {
                    throw Failure(status: 0, description: "list \(path): not a JSON object")
                }
                pods += (json["items"] as? [[String: Any]] ?? []).compactMap(PodInfo.init)
                next = ((json["metadata"] as? [String: Any])?["continue"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            } while next != nil
        }
        return pods
    }
}

/// Hands out the streams of a one-shot collection to its reading threads.
private final class WorkQueue: @unchecked Sendable {
    private let items: [(PodInfo, String, SourceType?)]
    private var index = 0
    private let lock = NSLock()
    init(_ items: [(PodInfo, String, SourceType?)]) { self.items = items }
    func next() -> (PodInfo, String, SourceType?)? {
        lock.withLock {
            guard index < items.count else { return nil }
            defer { index += 1 }
            return items[index]
        }
    }
}
