import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Sends sealed batches to `/v1/ingest` one at a time, in order, on its own thread, and
/// reports each one back to the tailer once the aggregator has committed it (or it was put in
/// quarantine). A commit is known only from the aggregator's reply document naming this batch
/// (`IngestReply`); a bare 2xx is not one. Network errors, 5xx, 408, 429, auth or routing
/// failures and unconfirmed 2xx replies are retried forever with jittered backoff; 413 splits
/// the batch; any other 4xx goes to the quarantine directory, within its bound.
final class Shipper: @unchecked Sendable {
    struct Settings {
        var url: String
        var tokenFile: String?
        var caFile: String?
        var compressionLevel: Int32
        var backoffMinimum: Double
        var backoffMaximum: Double
        var requestTimeout: Double
        var quarantineDirectory: String
        var quarantineMaxBytes: UInt64
    }

    private let settings: Settings
    private let metrics: AgentMetrics
    private let wake: WakeSignal
    private let monitor = Monitor()
    /// Sealed batches waiting for the compressor, then deflated ones waiting to be sent: the
    /// compressor works on the next batch while the sender waits for the aggregator.
    private var toCompress: [OutgoingBatch] = []
    private var queue: [OutgoingBatch] = []
    private var done: [OutgoingBatch] = []
    private var abandoning = false
    private var givingBack = false
    private var finished = false
    private let tokens: TokenSource
    private let transport: (Settings) throws -> any IngestTransport
    private let buffers: BatchBufferPool?

    /// `transport`: `IngestHTTPClient` with the settings' CA file and timeout unless a test gives its own.
    /// `buffers`: where a batch's record buffer goes once it is deflated.
    init(
        settings: Settings, metrics: AgentMetrics, wake: WakeSignal, buffers: BatchBufferPool? = nil,
        transport: ((Settings) throws -> any IngestTransport)? = nil
    ) {
        self.settings = settings
        self.buffers = buffers
        self.metrics = metrics
        self.wake = wake
        tokens = TokenSource(path: settings.tokenFile)
        self.transport =
            transport ?? { settings in
                var options = IngestHTTPClient.Options(caFile: settings.caFile)
                options.timeout = settings.requestTimeout
                return IngestHTTPClient(options: options)
            }
    }

    func start() throws {
        let client = try transport(settings)
        let deflater = try Deflater(level: settings.compressionLevel)
        metrics.set(.quarantineBytes, Int64(clamping: Quarantine(directory: settings.quarantineDirectory).usedBytes()))
        _ = AgentThread.spawn { [self] in compress(deflater) }
        _ = AgentThread.spawn { [self] in run(client) }
    }

    func enqueue(_ batch: OutgoingBatch) {
        monitor.locked {
            toCompress.append(batch)
            monitor.broadcast()
        }
    }

    private func compress(_ deflater: Deflater) {
        while true {
            // Bound straight to `batch`: a second binding would hold the records buffer, and it
            // could not be handed back without a copy.
            guard
                var batch: OutgoingBatch = monitor.locked({
                    while toCompress.isEmpty && !abandoning { monitor.wait(seconds: 1) }
                    return abandoning ? nil : toCompress.first
                })
            else { return }
            do {
                batch.body = try batch.raw.withBuffers { try deflater.compress($0) }
            } catch {
                // zlib failing to compress is memory exhaustion: nothing sensible to continue with.
                AgentLog.error("cannot compress a batch", ["error": "\(error)"])
                fatalError("zlib deflate failed: \(error)")
            }
            var records = batch.raw.records
            batch.raw = .empty
            monitor.locked {
                toCompress.removeFirst()
                givingBack = true
                queue.append(batch)
                monitor.broadcast()
            }
            // Only now is this the buffer's one reference: kept, it is not copied.
            buffers?.give(&records)
            monitor.locked { givingBack = false }
            // The reader may be waiting for room in the compression queue.
            wake.wake()
        }
    }

    /// Batches acknowledged since the last call, in the order they were sent.
    func takeAcknowledged() -> [OutgoingBatch] {
        monitor.locked {
            defer { done.removeAll() }
            return done
        }
    }

    var pendingCount: Int { monitor.locked { toCompress.count + queue.count } }

    /// Sealed batches not yet deflated: each holds its uncompressed megabyte. A deflated one
    /// counts until its buffer is back in the pool, so that the reader's next batch takes that
    /// buffer rather than mapping another.
    var awaitingCompression: Int { monitor.locked { toCompress.count + (givingBack ? 1 : 0) } }

    /// Gives up on whatever is not acknowledged yet (shutdown deadline): it stays unacknowledged
    /// and is read and sent again by the next start.
    func abandon() {
        monitor.locked {
            abandoning = true
            monitor.broadcast()
        }
    }

    private func run(_ client: any IngestTransport) {
        while true {
            let next: OutgoingBatch? = monitor.locked {
                while queue.isEmpty && !abandoning { monitor.wait(seconds: 1) }
                return abandoning ? nil : queue.first
            }
            guard let batch = next else { return }
            guard deliver(batch, client) else { return }
            monitor.locked {
                queue.removeFirst()
                done.append(batch)
            }
            wake.wake()
        }
    }

    /// True once the batch is committed or quarantined; false when abandoned.
    private func deliver(_ batch: OutgoingBatch, _ client: any IngestTransport) -> Bool {
        var backoff = Backoff(
            minimum: settings.backoffMinimum, maximum: settings.backoffMaximum,
            seed: UInt64(truncatingIfNeeded: batch.sequence &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(getpid())))
        var failures = 0
        while true {
            var retryAfter: Double? = nil
            var problem: String
            var token: String? = nil
            var unconfirmed = false
            do {
                var headers = [
                    ("Content-Type", "application/vnd.kubetrail.batch"), ("Content-Encoding", "deflate"),
                    ("User-Agent", "kubetrail-agent/1")
                ]
                token = try tokens.current()
                if let token { headers.append(("Authorization", "Bearer " + token)) }
                let reply = try client.post(settings.url, body: batch.body, headers: headers)
                switch reply.status {
                case 200..<300:
                    do {
                        let ack = try IngestReply.acknowledgement(of: reply.body, batchID: batch.batchID, records: batch.records)
                        acknowledged(batch, ack, token: token)
                        if failures > 0 { AgentLog.info("aggregator reachable again", ["batch": batch.batchID, "failed_attempts": String(failures)]) }
                        return true
                    } catch {
                        // Checkpoints must not move on the word of whatever answered: the batch
                        // is sent again until the aggregator itself confirms it.
                        metrics.add(.unconfirmedReplies)
                        unconfirmed = true
                        problem =
                            "HTTP \(reply.status) without acknowledgement: \(PeerText.excerpt("\(error)", hiding: token)); reply: "
                            + PeerText.excerpt(reply.text, hiding: token)
                    }
                case 413:
                    return split(batch, client, reply, token: token)
                case 401, 403, 404, 408, 429, 500...:
                    problem = "HTTP \(reply.status): \(PeerText.excerpt(reply.text, hiding: token))"
                    retryAfter = reply.retryAfter
                case 400..<500:
                    return quarantine(batch, status: reply.status, reply: PeerText.excerpt(reply.text, hiding: token, limit: 4000))
                default:
                    problem = "unexpected HTTP \(reply.status)"
                }
            } catch let failure as TransportFailure {
                problem = failure.isRetryable ? failure.message : failure.message + " (check the URL and CA file)"
            } catch {
                problem = "\(error)"
            }
            failures += 1
            metrics.add(.retries)
            let wait = backoff.next(retryAfter: retryAfter)
            // Loud at first, then about once a minute while the outage lasts. A success that is
            // not the aggregator's is an error: something else answers at its address.
            if failures <= 3 || failures % max(1, Int(60 / max(settings.backoffMaximum, 1))) == 0 {
                let say = unconfirmed ? AgentLog.error : AgentLog.warning
                say(
                    "batch not delivered; retrying",
                    [
                        "batch": batch.batchID, "attempt": String(failures),
                        "retry_in_s": String(Int(wait * 1000) / 1000), "error": problem
                    ])
            }
            let abandoned: Bool = monitor.locked {
                let until = monotonicSeconds() + wait
                while !abandoning {
                    let left = until - monotonicSeconds()
                    if left <= 0 { break }
                    monitor.wait(seconds: left)
                }
                return abandoning
            }
            if abandoned { return false }
        }
    }

    private func split(_ batch: OutgoingBatch, _ client: any IngestTransport, _ reply: HTTPReply, token: String?) -> Bool {
        let text = PeerText.excerpt(reply.text, hiding: token, limit: 4000)
        do {
            guard let halves = try BatchSplitter.halves(of: batch, level: settings.compressionLevel) else {
                // One record the aggregator will never take: keep it on disk.
                return quarantine(batch, status: 413, reply: text)
            }
            metrics.add(.batchesSplit)
            AgentLog.warning(
                "aggregator refused the batch as too large; sending it in two halves",
                ["batch": batch.batchID, "records": String(batch.records), "bytes": String(batch.rawBytes)])
            for half in halves {
                guard deliver(half, client) else { return false }
            }
            return true
        } catch {
            return quarantine(batch, status: 413, reply: text + " (and splitting failed: \(error))")
        }
    }

    private func quarantine(_ batch: OutgoingBatch, status: Int, reply: String) -> Bool {
        let quarantine = Quarantine(directory: settings.quarantineDirectory, maxBytes: settings.quarantineMaxBytes)
        while true {
            do {
                let file = try quarantine.store(batch, status: status, reply: reply)
                metrics.add(.batchesQuarantined)
                metrics.set(.quarantineBytes, Int64(clamping: quarantine.usedBytes()))
                AgentLog.error(
                    "aggregator refused a batch; it is kept in quarantine, not dropped",
                    [
                        "status": String(status), "batch": batch.batchID, "records": String(batch.records),
                        "file": file, "reply": String(reply.prefix(300))
                    ])
                return true
            } catch let full as Quarantine.Full {
                // The aggregator refused this batch, so holding it back would only stall the good
                // batches behind it; it stays in its log file on the node until that rotates.
                metrics.add(.quarantineFull)
                metrics.set(.quarantineBytes, Int64(clamping: full.used))
                AgentLog.error(
                    "aggregator refused a batch and the quarantine is full; the batch is dropped",
                    [
                        "status": String(status), "batch": batch.batchID, "records": String(batch.records),
                        "quarantine": settings.quarantineDirectory, "error": full.description,
                        "reply": String(reply.prefix(300))
                    ])
                return true
            } catch {
                // The batch stays unacknowledged until it is on disk: a full disk is retried.
                AgentLog.error("cannot write quarantine file; retrying", ["error": "\(error)"])
                let abandoned: Bool = monitor.locked {
                    if !abandoning { monitor.wait(seconds: 5) }
                    return abandoning
                }
                if abandoned { return false }
            }
        }
    }

    private func acknowledged(_ batch: OutgoingBatch, _ reply: IngestReply, token: String?) {
        metrics.add(.batchesAcked)
        metrics.add(.recordsAcked, UInt64(batch.records))
        metrics.add(.bytesSentCompressed, UInt64(batch.body.count))
        if reply.rejected > 0 {
            metrics.add(.recordsRejected, UInt64(reply.rejected))
            AgentLog.warning(
                "aggregator stored the batch but rejected some records",
                [
                    "batch": batch.batchID, "rejected": String(reply.rejected),
                    "first": PeerText.excerpt(reply.firstRejection ?? "", hiding: token)
                ])
        }
    }
}
