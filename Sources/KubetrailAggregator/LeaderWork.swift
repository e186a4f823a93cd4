import Dispatch
import Foundation
import KubetrailCollect
import KubetrailIntegrity
import KubetrailKube
import KubetrailStore
import KubetrailTables

/// The duties `LeaderDuties` starts and stops: made new each time this aggregator becomes the
/// leader, stopped (their rows committed, a last digest written) when it stops leading.
final class LeaderWork: @unchecked Sendable {
    private let lock = NSLock()
    private var retention: Retention?
    private var digests: DigestService?
    private var pollers: ClusterPollers?
    private var auditLogs: PodLogCollection?
    private var auditDone: DispatchSemaphore?
    private var detection: DetectionService?
    private var alerts: [AlertDispatcher] = []

    func begin(_ a: Aggregator, digestWriter: DigestWriter) {
        let configuration = a.configuration, store = a.store, logger = a.logger
        lock.lock()
        defer { lock.unlock() }
        let retention = Retention(store: store, maxAge: configuration.retention, interval: configuration.retentionInterval, logger: logger)
        retention.start()
        self.retention = retention
        let digests = DigestService(store: store, writer: digestWriter, logger: logger)
        digests.start()
        self.digests = digests
        if configuration.detection.enabled {
            let detection = DetectionService(store: store, detections: a.detections, settings: configuration.detection, logger: logger)
            detection.start()
            self.detection = detection
            alerts = configuration.alertSinks.map { AlertDispatcher(sink: $0, store: store, logger: logger) }
            for sink in alerts { sink.start() }
        }
        if let cluster = configuration.kubernetes {
            let collections = ClusterPollers.standard.filter { configuration.kubernetesIncludeEvents || $0.target != .events }
            let pollers = ClusterPollers(
                client: KubeClient(connection: cluster), store: store,
                context: IngestContext(clusterName: configuration.clusterName, sourceType: .apiWatch, sourceName: cluster.server),
                collections: collections, namespaces: configuration.kubernetesNamespaces,
                log: { logger.info("kubernetes: \($0)") })
            pollers.start()
            self.pollers = pollers
            logger.info("polling the Kubernetes API", metadata: ["server": "\(cluster.server)", "collections": "\(collections.count)"])
        }
        if let cluster = configuration.kubernetes, !configuration.kubernetesAuditMethods.isEmpty {
            let collection = PodLogCollection(
                client: KubeClient(connection: cluster), store: store,
                context: IngestContext(clusterName: configuration.clusterName, sourceType: .apiserverLog),
                table: .audit, selections: configuration.kubernetesAuditMethods.compactMap(LogPodSelection.forAudit),
                follow: true, since: configuration.kubernetesAuditSince,
                cursorScope: configuration.clusterName ?? cluster.server, log: { logger.info("kubernetes audit: \($0)") })
            let done = DispatchSemaphore(value: 0)
            auditLogs = collection
            auditDone = done
            Thread {
                _ = try? collection.run()
                done.signal()
            }.start()
            logger.info("reading audit events from pod logs", metadata: ["methods": "\(configuration.kubernetesAuditMethods.map(\.rawValue))"])
        }
    }

    /// The API readers commit what they hold; then a last digest covers it.
    func end() {
        lock.lock()
        defer { lock.unlock() }
        auditLogs?.stop()
        pollers?.stop()
        if let auditDone { _ = auditDone.wait(timeout: .now() + 25) }
        pollers?.waitUntilStopped(timeout: 20)
        digests?.stop()
        retention?.stop()
        detection?.stop()
        for sink in alerts { sink.stop() }
        (auditLogs, auditDone, pollers, digests, retention, detection, alerts) = (nil, nil, nil, nil, nil, nil, [])
    }
}
