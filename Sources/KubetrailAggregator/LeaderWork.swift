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
    /// In the order they started; they stop in reverse, so the API readers commit what they
    /// hold before the last digest is written.
    private var parts: [any AggregatorPart] = []

    func begin(_ a: Aggregator, digestWriter: DigestWriter) {
        let configuration = a.configuration, store = a.store, logger = a.logger
        var parts: [any AggregatorPart] = [
            Retention(store: store, maxAge: configuration.retention, interval: configuration.retentionInterval, logger: logger),
            DigestService(store: store, writer: digestWriter, logger: logger)
        ]
        if configuration.detection.enabled {
            parts.append(DetectionService(store: store, detections: a.detections, settings: configuration.detection, logger: logger))
            parts += configuration.alertSinks.map { AlertDispatcher(sink: $0, store: store, logger: logger) }
        }
        if let cluster = configuration.kubernetes {
            let collections = ClusterPollers.standard.filter { configuration.kubernetesIncludeEvents || $0.target != .events }
            let pollers = ClusterPollers(
                client: KubeClient(connection: cluster), store: store,
                context: IngestContext(clusterName: configuration.clusterName, sourceType: .apiWatch, sourceName: cluster.server),
                collections: collections, namespaces: configuration.kubernetesNamespaces,
                log: { logger.info("kubernetes: \($0)") })
            parts.append(PollersPart(pollers))
            logger.info("polling the Kubernetes API", metadata: ["server": "\(cluster.server)", "collections": "\(collections.count)"])
        }
        if let cluster = configuration.kubernetes, !configuration.kubernetesAuditMethods.isEmpty {
            let collection = PodLogCollection(
                client: KubeClient(connection: cluster), store: store,
                context: IngestContext(clusterName: configuration.clusterName, sourceType: .apiserverLog),
                table: .audit, selections: configuration.kubernetesAuditMethods.compactMap(LogPodSelection.forAudit),
                follow: true, since: configuration.kubernetesAuditSince,
                cursorScope: configuration.clusterName ?? cluster.server, log: { logger.info("kubernetes audit: \($0)") })
            parts.append(ThreadPart(name: "kubetrail-audit-logs", timeout: 25, run: { _ = try? collection.run() }, stop: { collection.stop() }))
            logger.info("reading audit events from pod logs", metadata: ["methods": "\(configuration.kubernetesAuditMethods.map(\.rawValue))"])
        }
        lock.withLock {
            for part in parts { part.start() }
            self.parts = parts
        }
    }

    func end() {
        lock.withLock {
            stopAll(parts)
            parts = []
        }
    }
}
