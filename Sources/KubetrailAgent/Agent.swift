import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// The node agent: discovers audit and container log files, tails them, frames records into
/// batches and hands them to the shipper; advances checkpoints only when the aggregator has
/// acknowledged what they cover.
///
/// One thread runs everything that touches files (this loop); the shipper thread does the HTTP;
/// the metrics listener has its own. The loop waits in poll(2) on inotify, the shipper's
/// acknowledgements and the termination signals.
public final class Agent {
    let config: AgentConfiguration
    public let metrics = AgentMetrics()
    let events: AgentEvents
    let inotify: Inotify
    let checkpoints: Checkpoints
    let wake: WakeSignal
    let shipper: Shipper
    var builder: BatchBuilder
    let buffers: BatchBufferPool

    let files = FileRegistry()
    /// Files closed after being drained, with their size then: seen again unchanged, not reopened.
    var retired: [DeviceInode: UInt64] = [:]

    var directories: [String: WatchedDirectory] = [:]
    var directoryByWatch: [Int32: String] = [:]
    /// Link names already decided (shipped or filtered out by namespace).
    var decidedLinks: [String: Bool] = [:]
    /// Link names refused for leading outside the pods directory, with the target then: said once.
    var refusedLinks: [String: String] = [:]

    let readBuffer: UnsafeMutableRawBufferPointer
    var roundRobin = 0
    var nextRescan = 0.0
    var lastPublish = 0.0
    var stopping = false
    private var signals: SignalFD?

    var spoolDirectory: String { config.stateDirectory + "/spool" }

    public init(configuration: AgentConfiguration) throws {
        try configuration.validate()
        config = configuration
        try makeDirectory(configuration.stateDirectory)
        inotify = try Inotify()
        checkpoints = Checkpoints(path: configuration.stateDirectory + "/checkpoints")
        wake = try WakeSignal()
        buffers = BatchBufferPool(maxBytes: 2 * max(configuration.maxBatchBytes, 64 << 10))
        events = AgentEvents(metrics: metrics)
        shipper = Shipper(
            settings: .init(
                url: configuration.ingestURL, tokenFile: configuration.tokenFile,
                caFile: configuration.caFile, compressionLevel: configuration.compressionLevel,
                backoffMinimum: configuration.backoffMinimum, backoffMaximum: configuration.backoffMaximum,
                requestTimeout: configuration.requestTimeout,
                quarantineDirectory: configuration.stateDirectory + "/quarantine",
                quarantineMaxBytes: configuration.maxQuarantineBytes),
            metrics: metrics, wake: wake, buffers: buffers)
        builder = BatchBuilder(node: configuration.nodeName, cluster: configuration.clusterName, expectedBytes: configuration.maxBatchBytes, buffers: buffers)
        readBuffer = .allocate(byteCount: max(64 << 10, configuration.readChunkBytes), alignment: 16)
    }

    deinit { readBuffer.deallocate() }

    /// Runs until SIGTERM or SIGINT, then flushes, waits for acknowledgements up to the
    /// shutdown timeout, spools what deleted files still owe, and saves the checkpoints.
    public func run() throws {
        signals = try SignalFD(signals: [SIGTERM, SIGINT])
        // Batch-sized buffers are mmapped and given back when freed, and two malloc arenas
        // serve the few threads: resident memory follows what is in use, not its peak.
        MallocTuning.apply(mmapThreshold: 256 << 10, arenas: 2)
        signal(SIGPIPE, SIG_IGN)
        var metricsServer: MetricsServer?
        if let listen = config.metricsListen {
            metricsServer = try MetricsServer(listen: listen, metrics: metrics)
            metricsServer?.start()
            events.metricsListening(address: listen, port: Int(metricsServer!.port))
        }
        try shipper.start()
        loadSpool()
        rescan()
        continueFromCopiesCutWhileAway()
        events.started(
            node: config.nodeName, aggregator: config.ingestURL, files: files.count, checkpoints: checkpoints.entries.count,
            problems: checkpoints.loadProblems)
        loop()
        shutdown()
        metricsServer?.stop()
    }

    private func loop() {
        var fds = [
            pollfd(fd: inotify.fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wake.fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: signals!.fd, events: Int16(POLLIN), revents: 0)
        ]
        while !stopping {
            let now = monotonicSeconds()
            var timeout = min(nextRescan - now, lastPublish + 1 - now)
            if !builder.isEmpty { timeout = min(timeout, builder.openedAt + config.batchAge - now) }
            if hasReadableWork { timeout = 0 }
            for i in fds.indices { fds[i].revents = 0 }
            _ = poll(&fds, nfds_t(fds.count), Int32(max(0, min(timeout, 1)) * 1000))
            if fds[2].revents != 0, let signal = signals?.take() {
                events.stopping(signal: signal)
                stopping = true
                break
            }
            processAcknowledgements()
            handleInotify()
            if monotonicSeconds() >= nextRescan { rescan() }
            readAvailable()
            sealIfDue(force: false)
            retireFinishedFiles()
            saveCheckpoints(force: false)
            if monotonicSeconds() >= lastPublish + 1 { publish() }
        }
    }

    private func shutdown() {
        sealIfDue(force: true)
        let deadline = monotonicSeconds() + config.shutdownTimeout
        var p = pollfd(fd: wake.fd, events: Int16(POLLIN), revents: 0)
        while shipper.pendingCount > 0 && monotonicSeconds() < deadline {
            _ = poll(&p, 1, 100)
            processAcknowledgements()
        }
        processAcknowledgements()
        let unsent = shipper.pendingCount
        shipper.abandon()
        spoolDeletedFiles(all: true)
        saveCheckpoints(force: true)
        publish()
        events.stopped(unacknowledgedBatches: unsent)
    }

    // MARK: Batches

    func sealIfDue(force: Bool) {
        guard !builder.isEmpty else { return }
        guard force || builder.bytes >= config.maxBatchBytes || monotonicSeconds() - builder.openedAt >= config.batchAge else { return }
        shipper.enqueue(builder.seal())
    }

    /// Bytes framed into batches but not yet acknowledged, over all files: what the read-ahead
    /// bound limits. A record still being framed does not count (its memory is bounded by the
    /// line cap), or one line longer than the bound could never be finished.
    var unackedBytes: UInt64 {
        files.reduce(0) { $0 + ($1.framer.committed > $1.acked ? $1.framer.committed - $1.acked : 0) }
    }

    func processAcknowledgements() {
        wake.clear()
        for batch in shipper.takeAcknowledged() {
            for end in batch.ends {
                guard let f = files.file(key: end.key) else { continue }
                if end.end > f.acked { f.acked = end.end }
                checkpoints.advance(end.key, path: f.wirePath, to: end.end) { f.bytes(at: $0, count: $1) }
            }
        }
    }

    func saveCheckpoints(force: Bool) {
        do {
            if force { try checkpoints.save() } else { try checkpoints.saveIfDue() }
        } catch {
            events.checkpointsNotSaved(error)
        }
    }

    func publish() {
        lastPublish = monotonicSeconds()
        if buffers.trim(ifIdleFor: 10) { builder.releaseBuffer() }
        events.publish(
            AgentEvents.Snapshot(
                unackedBytes: unackedBytes, openFiles: files.filter { $0.isOpen }.count, heldDeletedFiles: heldDeletedCount,
                spoolBytes: spoolBytes, queuedBatches: shipper.pendingCount,
                files: files.map { AgentMetrics.FileState(path: $0.path, size: $0.size, read: $0.framer.position, acked: $0.acked) }))
    }
}

/// glibc's mallopt(3), which the Glibc module does not import, looked up at run time.
enum MallocTuning {
    static func apply(mmapThreshold: Int32, arenas: Int32) {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-3, mmapThreshold)  // M_MMAP_THRESHOLD
        _ = mallopt(-8, arenas)  // M_ARENA_MAX
    }
}

/// SIGTERM and SIGINT as a readable descriptor, so the loop's poll sees them: the handler
/// only writes the signal number to a pipe (async-signal-safe).
final class SignalFD {
    let fd: Int32
    nonisolated(unsafe) static var writeEnd: Int32 = -1

    init(signals: [Int32]) throws {
        let ends = try makePipe()
        fd = ends.read
        Self.writeEnd = ends.write
        // A parent may have left these blocked (the mask survives exec): unblock them, or a
        // SIGTERM from the kubelet would stay pending forever.
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in signals { sigaddset(&mask, s) }
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        for s in signals {
            signal(s) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(SignalFD.writeEnd, &byte, 1)
            }
        }
    }

    deinit { close(fd) }

    func take() -> Int32? {
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 1 ? Int32(byte) : nil
    }
}
