import KubetrailCore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import KubetrailDetect
import KubetrailStore
import KubetrailCollect
import KubetrailIntegrity
import KubetrailKube
import KubetrailTables
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// The aggregator: ingest from agents, the kube-apiserver audit webhook, health and metrics.
public final class Aggregator: Sendable {
    public let configuration: AggregatorConfiguration
    public let store: any Store
    /// Where users' SQL runs (`/v1/query`, `/v1/export`): the query database when one is given
    /// (a role the database lets only read), else `store`.
    let queryStore: any Store
    let writer: GroupCommitWriter
    /// Wakes followers when this aggregator commits.
    let commits = CommitSignal()
    let followerSlots: QuerySlots
    let tailPages = SharedTailPages()
    /// The duties one aggregator does for all that share the store (LeaderDuties).
    let leaderDuties = LeaderWork()
    let auth: Authenticator
    let clusterClaims: ClusterClaims
    /// Inflated bytes of the batches being decoded now, across requests.
    let inflight: ByteBudget
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    /// The rules continuous detection runs (none when it is off).
    let detections: [Detection]

    /// The writer's page cache by default: large enough that index pages of a busy day stay in
    /// memory, small enough to keep the aggregator under 200 MB resident.
    public static let pageCacheMiB = 80

    public init(configuration: AggregatorConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        // Acknowledged means on disk: every commit is fsynced.
        store = try StoreLocation(parsing: configuration.databasePath).withPassword(fromFile: configuration.databasePasswordFile).open(
            .serving(cacheMiB: configuration.pageCacheMiB))
        if let queryDatabase = configuration.queryDatabase {
            queryStore = try StoreLocation(parsing: queryDatabase).withPassword(fromFile: configuration.queryDatabasePasswordFile).open(.servingQueries)
            logger.info("queries and exports run on the query database", metadata: ["query_db": "\(queryStore)"])
            // Said now, not at the first query: a role that may write, or one that cannot connect.
            if let postgres = queryStore as? PostgresStore {
                do {
                    if try postgres.roleMayWrite() {
                        logger.warning(
                            "the query database's role may write kubetrail's tables; give one made by `kubetrail grant-reader`",
                            metadata: ["query_db": "\(queryStore)"])
                    }
                } catch {
                    logger.warning(
                        "the query database cannot be queried now; queries and exports fail until it can",
                        metadata: ["query_db": "\(queryStore)", "error": "\(error)"])
                }
            }
        } else {
            queryStore = store
            if store.sharedWriters {
                logger.notice(
                    "queries and exports run as the store's role, in read-only transactions; give --query-db with a role made by `kubetrail grant-reader` so the database itself allows them only to read"
                )
            }
        }
        if configuration.detection.enabled {
            do {
                detections = try RuleSet.load(directories: configuration.detection.ruleDirectories, builtIn: configuration.detection.builtIn).detections
            } catch {
                throw AggregatorError.configuration("detection rules: \(error)")
            }
            logger.info("continuous detection is on", metadata: ["rules": "\(detections.count)", "alert_sinks": "\(configuration.alertSinks.map(\.name))"])
        } else {
            detections = []
        }
        auth = Authenticator(
            ingest: try TokenFile(path: configuration.ingestTokenFile),
            query: try configuration.queryTokenFile.map { try TokenFile(path: $0) },
            verifiedClientCertificates: configuration.clientCA != nil)
        clusterClaims = ClusterClaims(limit: configuration.maxClustersPerToken)
        inflight = ByteBudget(limit: configuration.maxInflightBytes)
        writer = GroupCommitWriter(store: store, maxQueuedRows: configuration.maxQueuedRows)
        registry = PrometheusCollectorRegistry()
        // Created at use, not here: the metrics backend is bootstrapped after init.
        followerSlots = QuerySlots(limit: configuration.maxFollowers)
        writer.onCommit = { [commits] batches, _, seconds in
            commits.signal()
            Metrics.Timer(label: "kubetrail_commit_duration_seconds").recordSeconds(seconds)
            Recorder(label: "kubetrail_commit_batches").record(batches)
        }
    }

    /// Installs this aggregator's metrics registry as the process-wide metrics backend.
    public func bootstrapMetrics() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: APIErrorMiddleware())
        router.get("/healthz") { _, _ in jsonResponse("{\"status\":\"ok\"}") }
        router.get("/readyz") { [store] _, _ in
            // A write transaction may wait for a commit: run it off Swift's shared threads.
            let failure: String? = await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    do { try store.write { _ in }; continuation.resume(returning: nil) } catch { continuation.resume(returning: "\(error)") }
                }
            }
            if let failure { return APIError(status: .serviceUnavailable, reason: "store not writable: \(failure)").response }
            return jsonResponse("{\"status\":\"ready\"}")
        }
        router.get("/metrics") { [registry, writer, store] _, _ in
            Gauge(label: "kubetrail_commit_queue_rows").record(writer.queueDepth)
            Gauge(label: "kubetrail_audit_chain_refused_clusters").record(store.writtenHeads.refusals.count)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.post("/v1/ingest") { request, _ in try await self.ingest(request) }
        router.post("/v1/audit/webhook") { request, _ in try await self.webhook(request) }
        router.post("/v1/query") { request, _ in try await self.query(request) }
        router.get("/v1/export") { request, _ in try await self.export(request) }
        router.get("/v1/tail") { request, _ in try await self.tail(request) }
        for path in ["/v1/ingest", "/v1/audit/webhook", "/v1/query"] {
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    throw APIError(status: .methodNotAllowed, reason: "use POST", headers: [.allow: "POST"])
                }
            }
        }
        return router
    }

    /// The TLS server configuration, when a certificate is configured.
    func tlsConfiguration() throws -> TLSConfiguration? {
        guard let cert = configuration.tlsCertificate else {
            if configuration.tlsKey != nil || configuration.clientCA != nil {
                throw AggregatorError.configuration("--tls-key and --client-ca need --tls-cert")
            }
            return nil
        }
        guard let key = configuration.tlsKey else { throw AggregatorError.configuration("--tls-cert needs --tls-key") }
        do {
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            tls.minimumTLSVersion = .tlsv12
            if let ca = configuration.clientCA {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
                // Required and verified; client certificates carry no host name to check.
                tls.certificateVerification = .noHostnameVerification
            }
            return tls
        } catch {
            throw AggregatorError.configuration("cannot load TLS certificate or key: \(error)")
        }
    }

    /// Serves until SIGTERM/SIGINT, then stops accepting, finishes in-flight commits and closes.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let tls = try tlsConfiguration()
        let (idle, requestTimeout) = (configuration.idleTimeout, configuration.requestTimeout)
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestDeadlineHandler(idleSeconds: idle, requestSeconds: requestTimeout)],
            idleTimeout: .seconds(Int64(idle)))
        // The chain heads the writer may extend, each checked against its last signed digest.
        // Checked beside ingest, not before it: the unsigned span can be minutes of rows, and a
        // restarted aggregator must take batches again at once.
        let checkLogger = logger
        let checkStore = store
        Thread {
            do {
                for (cluster, problems) in try ChainSpanCheck.adoptHeads(checkStore) {
                    checkLogger.critical(
                        "the audit chain was changed since its last digest; audit rows for this cluster are refused until the store is restored",
                        metadata: ["cluster": "\(cluster)", "problems": "\(problems.joined(separator: "; "))"])
                }
            } catch {
                checkLogger.error("cannot check the audit chain since its last digest", metadata: ["error": "\(error)"])
            }
        }.start()
        let app = Application(
            router: buildRouter(),
            // Idle connections are closed, and connections are capped, so trickling clients cannot
            // exhaust descriptors or hold up shutdown.
            server: try tls.map { try .tls(.http1(configuration: http1), tlsConfiguration: $0) } ?? .http1(configuration: http1),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "kubetrail",
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections)),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        let digestWriter = DigestWriter(
            key: try DigestService.key(configured: configuration.digestSigningKey, store: store, logger: logger),
            interval: configuration.digestInterval, retention: configuration.retention[AuditLogRow.schema.name],
            directory: configuration.digestDirectory)
        let duties = LeaderDuties(
            lock: store.leaderLock("aggregator"), interval: configuration.leaderCheckInterval, logger: logger,
            begin: { [self] in leaderDuties.begin(self, digestWriter: digestWriter) },
            end: { [self] in leaderDuties.end() })
        // Shut down in reverse: the server stops taking requests, the leader's duties end, and
        // the writer commits what it was given.
        let group = ServiceGroup(
            services: [PartService(part: writer), PartService(part: duties), app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        logger.info("stopped; every acknowledged batch is committed")
    }

    // MARK: Ingest

    func ingest(_ request: Request) async throws -> Response {
        guard let scope = try auth.require(.ingest, request) else { throw APIError(status: .forbidden, reason: "no ingest scope") }
        let permission = IngestPermission(scope: scope, configuredCluster: configuration.clusterName, claims: clusterClaims)
        Counter(label: "kubetrail_requests_total", dimensions: [("endpoint", "ingest")]).increment()
        guard let encoding = request.headers[.contentEncoding], encoding.lowercased() == "deflate" else {
            throw APIError(status: .unsupportedMediaType, reason: "Content-Encoding: deflate (zlib) is required")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
            throw APIError(status: .contentTooLarge, reason: "body of \(length) bytes exceeds \(configuration.maxBodyBytes)")
        }
        var limits = WireFormat.Limits()
        limits.maxRecordBytes = configuration.maxRecordBytes
        var decoder = WireBatchDecoder(limits: limits)
        var normalizer: IngestNormalizer? = nil
        let inflater = try Inflater(format: .zlib)
        var compressed = 0
        let ingestTime = Timestamp.now
        // What this request holds of the shared budget for inflated bytes: batches decoded at
        // once are bounded together, not only one by one.
        let reservation = inflight.reservation()
        defer { reservation.release() }
        do {
            for try await chunk in request.body {
                compressed += chunk.readableBytes
                if compressed > configuration.maxBodyBytes {
                    throw APIError(status: .contentTooLarge, reason: "body exceeds \(configuration.maxBodyBytes) bytes")
                }
                if inflater.finished, chunk.readableBytes > 0 {
                    throw APIError(status: .badRequest, reason: "data after the end of the deflate stream")
                }
                try chunk.withUnsafeReadableBytes { raw in
                    let used = try inflater.inflate(raw, limit: configuration.maxInflatedBytes) { inflated in
                        try self.charge(reservation, inflated.count)
                        try decoder.feed(inflated) { record in
                            try self.charge(reservation, ByteBudget.recordOverhead)
                            if normalizer == nil {
                                normalizer = IngestNormalizer(
                                    node: record.header.node, clusterOverride: try permission.cluster(of: record.header), ingestTime: ingestTime)
                            }
                            try permission.check(record.header.sources[record.source].kind)
                            normalizer!.add(record)
                        }
                    }
                    if used < raw.count { throw APIError(status: .badRequest, reason: "data after the end of the deflate stream") }
                }
                if inflater.totalOut > 1 << 20, inflater.totalOut / max(compressed, 1) > configuration.maxInflationRatio {
                    throw APIError(
                        status: .contentTooLarge,
                        reason: "inflates more than \(configuration.maxInflationRatio)× (\(inflater.totalOut) bytes from \(compressed))")
                }
            }
            guard inflater.finished else { throw APIError(status: .badRequest, reason: "deflate stream is truncated") }
            try decoder.finish()
        } catch let error as ZlibError {
            if error.isOutputLimit { throw APIError(status: .contentTooLarge, reason: "inflated batch exceeds \(configuration.maxInflatedBytes) bytes") }
            throw APIError(status: .badRequest, reason: "body is not zlib data: \(error.message)")
        } catch let error as WireFormatError {
            let tooBig: Bool = { if case .limitExceeded = error { return true } else { return false } }()
            Counter(label: "kubetrail_batches_rejected_total", dimensions: [("reason", tooBig ? "limit" : "malformed")]).increment()
            throw APIError(status: tooBig ? .contentTooLarge : .badRequest, reason: "malformed batch: \(error)")
        }
        Counter(label: "kubetrail_ingest_bytes_total", dimensions: [("encoding", "deflate")]).increment(by: compressed)
        Counter(label: "kubetrail_ingest_bytes_total", dimensions: [("encoding", "identity")]).increment(by: inflater.totalOut)
        if normalizer == nil, let header = decoder.header { _ = try permission.cluster(of: header) }
        var batch = normalizer?.batch ?? IngestBatch(batchID: nil, node: decoder.header?.node ?? "")
        batch.batchID = decoder.batchID
        return try await commitAndReply(batch)
    }

    /// Grows a request's share of the decoding budget, or answers for it.
    func charge(_ reservation: ByteBudget.Reservation, _ bytes: Int) throws {
        do {
            try reservation.take(bytes)
        } catch .busy {
            Counter(label: "kubetrail_batches_total", dimensions: [("result", "overloaded")]).increment()
            throw APIError(
                status: .serviceUnavailable, reason: "the aggregator is decoding \(configuration.maxInflightBytes >> 20) MiB of batches already; retry later",
                headers: [.retryAfter: "1"])
        } catch .tooLarge {
            throw APIError(
                status: .contentTooLarge,
                reason: "the batch needs more than --max-inflight-bytes (\(configuration.maxInflightBytes) bytes) to decode; send smaller batches")
        }
    }

    // MARK: Webhook

    func webhook(_ request: Request) async throws -> Response {
        let scope = try auth.require(.webhook, request)
        Counter(label: "kubetrail_requests_total", dimensions: [("endpoint", "webhook")]).increment()
        // kube-apiserver sends plain JSON, so the body limit is the compressed one: what any one
        // request may make the aggregator hold.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
            throw APIError(status: .contentTooLarge, reason: "body of \(length) bytes exceeds \(configuration.maxBodyBytes)", headers: [.connection: "close"])
        }
        let reservation = inflight.reservation()
        defer { reservation.release() }
        var body = [UInt8]()
        for try await chunk in request.body {
            if body.count + chunk.readableBytes > configuration.maxBodyBytes {
                throw APIError(status: .contentTooLarge, reason: "body exceeds \(configuration.maxBodyBytes) bytes", headers: [.connection: "close"])
            }
            try charge(reservation, chunk.readableBytes)
            body.append(contentsOf: chunk.readableBytesView)
        }
        var batch = IngestBatch(batchID: nil, node: "")
        let context = IngestContext(
            clusterName: configuration.clusterName ?? scope?.cluster, sourceType: .auditWebhook,
            sourceName: "kube-apiserver", sourceLocation: "/v1/audit/webhook")
        var wholeBodyRejected: Rejection?
        AuditDecoder.decode(body, context: context) { outcome in
            switch outcome {
            case .row(let row): batch.audit.append(row)
            case .skipped: break
            case .rejected(let r):
                if r.item == nil { wholeBodyRejected = r }
                batch.reject(
                    RecordRejection(reason: r.reason, detail: String(r.description.prefix(200)), path: "/v1/audit/webhook", offset: UInt64(r.item ?? 0)))
            }
            batch.records += 1
        }
        if let r = wholeBodyRejected {
            throw APIError(status: .badRequest, reason: "not an audit EventList: \(r.detail)")
        }
        return try await commitAndReply(batch)
    }

    // MARK: Commit

    func commitAndReply(_ batch: IngestBatch) async throws -> Response {
        for (reason, count) in batch.rejectedByReason {
            Counter(label: "kubetrail_records_rejected_total", dimensions: [("reason", reason)]).increment(by: count)
        }
        let outcome: GroupCommitWriter.Outcome
        do {
            outcome = try await writer.commit(batch)
        } catch GroupCommitWriter.Failure.overloaded {
            Counter(label: "kubetrail_batches_total", dimensions: [("result", "overloaded")]).increment()
            throw APIError(status: .serviceUnavailable, reason: "aggregator is busy; retry later", headers: [.retryAfter: "1"])
        } catch GroupCommitWriter.Failure.storage(let message) {
            Counter(label: "kubetrail_batches_total", dimensions: [("result", "storage_error")]).increment()
            logger.error("commit failed", metadata: ["error": "\(message)"])
            throw APIError(status: .serviceUnavailable, reason: "store cannot commit (\(message)); retry later", headers: [.retryAfter: "5"])
        }
        var reply = IngestReply(
            batchID: batch.batchID, records: batch.records, rejected: batch.rejectedCount,
            rejections: batch.rejected.map { IngestReply.Rejection(reason: $0.reason, path: $0.path, offset: $0.offset, detail: $0.detail) })
        switch outcome {
        case .duplicateBatch:
            Counter(label: "kubetrail_batches_total", dimensions: [("result", "duplicate")]).increment()
            reply.duplicate = true
        case .stored(let audit, let logs, let duplicates, let conflicts):
            if conflicts > 0 {
                Counter(label: "kubetrail_audit_conflicts_total").increment(by: conflicts)
                logger.warning(
                    "audit events conflict with stored ones under the same auditID and stage; both kept (kubetrail verify lists them)",
                    metadata: ["conflicts": "\(conflicts)", "node": "\(batch.node)"])
            }
            Counter(label: "kubetrail_batches_total", dimensions: [("result", "stored")]).increment()
            Counter(label: "kubetrail_rows_total", dimensions: [("table", AuditLogRow.tableName)]).increment(by: audit)
            Counter(label: "kubetrail_rows_total", dimensions: [("table", PodLogRow.tableName)]).increment(by: logs)
            reply.storedAudit = audit
            reply.storedPodLogs = logs
            reply.duplicates = duplicates
            reply.conflicts = conflicts
        }
        return jsonResponse(reply.encoded())
    }
}
