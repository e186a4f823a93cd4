import Foundation
import KubetrailCore
import KubetrailImport
import KubetrailKube
import KubetrailStore
import KubetrailTables

/// `kubetrail collect`: pulls the four tables from a cluster into the local store — pod logs
/// through the API, events and resources by listing (and watching, when following), audit
/// events by the first method that finds a source (files, kube-apiserver pods, audit collector
/// pods). Log streams resume from their committed cursors, so a second run reads only what is new.
public final class Collector: @unchecked Sendable {
    public enum Table: String, CaseIterable, Sendable {
        case podLogs = "kubernetes_pod_logs"
        case events = "kubernetes_events"
        case resources = "kubernetes_resources"
        case audit = "kubernetes_audit_logs"
    }

    public struct Options: Sendable {
        public var tables: [Table] = Table.allCases
        public var from: Timestamp?
        public var to: Timestamp?
        public var follow = false
        public var namespaces = ["*"]
        public var clusterName: String?
        public var auditSource = KubernetesConfig.AuditSource()
        /// Searched by the file method when the source block names no paths (the agent's defaults).
        public var defaultAuditPaths = ["/var/log/audit/kube/*.log", "/var/log/kube-audit/*.log", "/var/log/kubernetes/audit/*.log"]
        /// Following: how often new pods are looked for, and audit files read again.
        public var rediscoverEvery = 10.0

        public init() {}
    }

    public struct TableReport: Sendable, Equatable {
        public var table: Table
        public var stored = 0
        public var removed = 0
        public var duplicates = 0
        public var skipped = 0
        public var rejected = 0
        public var rejectedBecause: [String: Int] = [:]
        /// Outside the namespaces or the time range.
        public var filtered = 0
        /// Where the rows came from, or why there were none.
        public var note = ""
        public var failures: [String] = []

        public init(table: Table) { self.table = table }
    }

    let client: KubeClient
    let store: any Store
    public let options: Options
    let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var stopped = false
    private var reports: [Table: TableReport] = [:]
    private var podLogs: PodLogCollection?
    private var auditLogs: PodLogCollection?
    private var pollers: ClusterPollers?

    public init(client: KubeClient, store: any Store, options: Options, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.client = client
        self.store = store
        self.options = options
        self.log = log
    }

    var cursorScope: String { options.clusterName ?? client.connection.server }

    public func stop() {
        let parts = lock.withLock { () -> (PodLogCollection?, PodLogCollection?, ClusterPollers?) in
            stopped = true
            return (podLogs, auditLogs, pollers)
        }
        parts.0?.stop()
        parts.1?.stop()
        parts.2?.stop()
    }

    var isStopped: Bool { lock.withLock { stopped } }

    /// Where each table stands (live while running).
    public var progress: [TableReport] {
        lock.withLock {
            var out: [TableReport] = []
            for table in options.tables {
                var r = reports[table] ?? TableReport(table: table)
                let logs = table == .podLogs ? podLogs : table == .audit ? auditLogs : nil
                if let s = logs?.summary {
                    r.stored += s.stored
                    r.duplicates += s.duplicates
                    r.skipped += s.skipped
                    r.rejected += s.rejected
                    r.failures += s.failures
                }
                if table == .events || table == .resources, let pollers {
                    for (path, state) in pollers.status where (table == .events) == (path == "/api/v1/events") {
                        if case .forbidden(let why) = state { r.failures.append(why) }
                    }
                    for (path, c) in pollers.counts where (table == .events) == (path == "/api/v1/events") {
                        r.stored += c.stored
                        r.removed += c.removed
                        r.rejected += c.rejected
                        r.rejectedBecause.merge(c.rejectedBecause, uniquingKeysWith: +)
                        r.filtered += c.filtered
                    }
                }
                out.append(r)
            }
            return out
        }
    }

    /// Collects once and returns; following, runs until `stop()`.
    public func run() throws -> [TableReport] {
        let tables = Set(options.tables)
        var threads: [Thread] = []
        let group = DispatchGroup()
        func background(_ body: @escaping @Sendable () -> Void) {
            group.enter()
            let t = Thread {
                body(); group.leave()
            }
            threads.append(t)
            t.start()
        }
        if tables.contains(.events) || tables.contains(.resources) {
            if options.follow {
                startPollers(events: tables.contains(.events), resources: tables.contains(.resources))
            } else {
                background { [self] in listOnce(events: tables.contains(.events), resources: tables.contains(.resources)) }
            }
        }
        if tables.contains(.podLogs) {
            let collection = PodLogCollection(
                client: client, store: store, context: context(.podLogAPI), table: .podLogs,
                selections: [.allPods(namespaces: options.namespaces)], follow: options.follow,
                since: options.from, until: options.to, cursorScope: cursorScope, log: log)
            collection.discoverEvery = options.rediscoverEvery
            adopt { podLogs = collection }
            if isStopped { collection.stop() }
            background { [self] in
                do { try collection.run() } catch { fail(.podLogs, "\(error)") }
                let streams = collection.summary.streams
                note(.podLogs, "\(streams) container log stream\(streams == 1 ? "" : "s")")
            }
        }
        if tables.contains(.audit) {
            background { [self] in collectAudit() }
        }
        group.wait()
        if options.follow {
            while !isStopped { Thread.sleep(forTimeInterval: 0.1) }
            // The watches commit what they hold as they stop.
            lock.withLock { pollers }?.waitUntilStopped(timeout: 20)
        }
        return progress
    }

    /// Records a part under the lock; a `stop()` that came first is passed on by the caller.
    private func adopt(_ body: () -> Void) { lock.withLock(body) }

    private func context(_ type: SourceType) -> IngestContext {
        IngestContext(clusterName: options.clusterName, sourceType: type, sourceName: client.connection.server)
    }

    private func fail(_ table: Table, _ message: String) {
        log("\(table.rawValue): \(message)")
        lock.withLock { reports[table, default: TableReport(table: table)].failures.append(message) }
    }

    private func note(_ table: Table, _ text: String) {
        lock.withLock { reports[table, default: TableReport(table: table)].note = text }
    }

    private func add(_ table: Table, _ counts: TableSync.Counts) {
        lock.withLock {
            var r = reports[table, default: TableReport(table: table)]
            r.stored += counts.stored
            r.removed += counts.removed
            r.rejected += counts.rejected
            r.rejectedBecause.merge(counts.rejectedBecause, uniquingKeysWith: +)
            r.filtered += counts.filtered
            reports[table] = r
        }
    }

    // MARK: Events and resources

    private func collections(events: Bool, resources: Bool) -> [ClusterPollers.Collection] {
        ClusterPollers.standard.filter { $0.target == .events ? events : resources }
    }

    private func listOnce(events: Bool, resources: Bool) {
        var kinds = 0
        var unserved: [String] = []
        for collection in collections(events: events, resources: resources) where !isStopped {
            let table: Table = collection.target == .events ? .events : .resources
            let sync = TableSync(
                target: collection.target, store: store, context: context(.apiWatch), namespaces: options.namespaces,
                apiVersion: collection.apiVersion)
            if collection.target == .events, options.from != nil || options.to != nil {
                sync.eventWindow = (options.from ?? Timestamp(microseconds: .min))...(options.to ?? Timestamp(microseconds: .max))
            }
            let reflector = Reflector(client: client, path: collection.path, metadataOnly: collection.target == .resources(kind: "Secret"))
            do {
                var first = true
                let (count, version) = try reflector.listAll(resourceVersion: "0") { page in
                    try sync.apply(.listed(page, first: first))
                    first = false
                }
                try sync.apply(.synced(count: count, resourceVersion: version))
                add(table, sync.counts)
                if table == .resources { kinds += 1 }
            } catch let failure as Reflector.Failure where failure.status == 403 {
                fail(table, "forbidden: \(collection.path) cannot be listed with these credentials (RBAC); the other kinds were collected")
            } catch let failure as Reflector.Failure where failure.status == 404 {
                // A kind the cluster does not have is nothing to collect, not a failure.
                unserved.append(collection.path)
            } catch {
                fail(table, "\(collection.path): \(error)")
            }
        }
        if resources {
            note(
                .resources, "\(kinds) kinds listed" + (unserved.isEmpty ? "" : "; not served by this API server, skipped: " + unserved.joined(separator: ", ")))
        }
        if events { note(.events, options.from == nil && options.to == nil ? "the events the API still holds" : "events last seen in the time range") }
    }

    private func startPollers(events: Bool, resources: Bool) {
        let pollers = ClusterPollers(
            client: client, store: store, context: context(.apiWatch),
            collections: collections(events: events, resources: resources),
            namespaces: options.namespaces, log: log)
        if let from = options.from { pollers.eventWindow = from...Timestamp(microseconds: .max) }
        adopt { self.pollers = pollers }
        if isStopped { return }
        pollers.start()
        if events { note(.events, "listed, then watched") }
        if resources { note(.resources, "listed, then watched") }
    }

    // MARK: Audit

    private func collectAudit() {
        let methods = options.auditSource.methods
        var looked: [String] = []
        if methods.contains(.file) {
            let patterns = options.auditSource.auditLogPaths.isEmpty ? options.defaultAuditPaths : options.auditSource.auditLogPaths
            let files = AuditFiles.matching(patterns)
            if !files.isEmpty {
                collectAuditFiles(files)
                return
            }
            looked.append("no audit files at \(patterns.joined(separator: ", "))")
        }
        let selections = methods.compactMap(LogPodSelection.forAudit)
        guard !selections.isEmpty else {
            note(.audit, "no audit source: " + looked.joined(separator: "; "))
            return
        }
        let collection = PodLogCollection(
            client: client, store: store, context: context(.apiserverLog), table: .audit,
            selections: selections, follow: options.follow, since: options.from, until: options.to,
            cursorScope: cursorScope, log: log)
        collection.discoverEvery = options.rediscoverEvery
        adopt { auditLogs = collection }
        if isStopped { collection.stop() }
        do {
            try collection.run()
            let s = collection.summary
            note(
                .audit,
                s.streams > 0
                    ? "from pod logs (\(s.streams) stream\(s.streams == 1 ? "" : "s"))"
                    : "no audit source: " + (looked + ["no pods found (\(selections.map(\.summary).joined(separator: ", then ")))"]).joined(separator: "; "))
        } catch {
            fail(.audit, "\(error)")
        }
    }

    /// The file method: imported (a re-read row is a duplicate, stored once); following, each
    /// file is read again when it grows or is replaced.
    private func collectAuditFiles(_ files: [String]) {
        note(.audit, "from \(files.count) file\(files.count == 1 ? "" : "s"): \(files.joined(separator: ", "))")
        var seen: [String: AuditFiles.Stamp] = [:]
        repeat {
            let changed = AuditFiles.matching(options.auditSource.auditLogPaths.isEmpty ? options.defaultAuditPaths : options.auditSource.auditLogPaths)
                .filter { path in
                    let stamp = AuditFiles.stamp(path)
                    defer { seen[path] = stamp }
                    return stamp != seen[path]
                }
            if !changed.isEmpty {
                var importOptions = Importer.Options(kind: .audit, clusterName: options.clusterName)
                importOptions.maxReportedProblems = 5
                let importer = Importer(store: store, options: importOptions)
                importer.diagnostics = { [log] in log($0) }
                do {
                    let summary = try importer.run(try InputFiles.expand(changed))
                    lock.withLock {
                        var r = reports[.audit, default: TableReport(table: .audit)]
                        r.stored += summary.stored
                        r.duplicates += summary.duplicates
                        r.skipped += summary.skipped
                        r.rejected += summary.rejected
                        reports[.audit] = r
                    }
                } catch {
                    fail(.audit, "\(error)")
                }
            }
            let until = Date().addingTimeInterval(options.rediscoverEvery)
            while options.follow && !isStopped && Date() < until { Thread.sleep(forTimeInterval: 0.1) }
        } while options.follow && !isStopped
    }
}

/// Audit log files named by paths with `*` wildcards.
enum AuditFiles {
    struct Stamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int
    }

    static func matching(_ patterns: [String]) -> [String] {
        var out: [String] = []
        for pattern in patterns {
            var g = glob_t()
            defer { globfree(&g) }
            guard glob(pattern, 0, nil, &g) == 0 else { continue }
            for i in 0..<Int(g.gl_pathc) {
                guard let p = g.gl_pathv[i] else { continue }
                let path = String(cString: p)
                var st = stat()
                if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, !path.hasSuffix(".gz") { out.append(path) }
            }
        }
        return Array(Set(out)).sorted()
    }

    static func stamp(_ path: String) -> Stamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Stamp(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size), modified: Int(st.st_mtim.tv_sec))
    }
}
