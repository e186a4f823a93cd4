import ArgumentParser
import Foundation
import KubetrailCollect
import KubetrailCore
import KubetrailKube
import KubetrailStore

struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Collect pod logs, events, resources and audit events from a cluster's API into the local database.",
        discussion: """
            The cluster and options come from the connection "kubernetes" and source "kubernetes_audit_logs" \
            blocks of ~/.kubetrail/config/*.tpc and --config files (flags win); with none, the current \
            kubeconfig context, as kubectl would use it. Log streams resume where the last collection \
            stopped, so running it again reads only what is new. --from and --to take a duration ago \
            (15m, 1h, 7d) or an RFC 3339 time; --from defaults to the block's since_time. With --follow \
            it keeps collecting (logs followed across container restarts, events and resources watched) \
            until interrupted; `follow_logs = true` in the block does the same unless --no-follow or --to is given.
            """)

    @Argument(help: ArgumentHelp("Tables to collect (default: all four).", valueName: "TABLE"))
    var tables: [String] = []

    @Option(help: ArgumentHelp("Collect from this time on: a duration ago (1h) or RFC 3339.", valueName: "WHEN"))
    var from: String?

    @Option(help: ArgumentHelp("Collect up to this time: a duration ago or RFC 3339.", valueName: "WHEN"))
    var to: String?

    @Flag(inversion: .prefixedNo, help: "Keep collecting until interrupted (default: the connection block's follow_logs).")
    var follow: Bool?

    @Option(name: .customLong("config"), help: ArgumentHelp("A .tpc configuration file, read after ~/.kubetrail/config/*.tpc; repeatable.", valueName: "FILE"))
    var configFiles: [String] = []

    @Option(help: "Kubeconfig file (instead of the connection block's kubeconfig_path, KUBECONFIG or ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "Kubeconfig context to use.")
    var context: String?

    @Option(help: ArgumentHelp("Namespaces: \"*\" or a comma list.", valueName: "LIST"))
    var namespace: String?

    @Option(help: "Cluster name stored with every row.")
    var clusterName: String?

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Never draw the progress line.")
    var noProgress = false

    mutating func run() throws {
        let env = ProcessInfo.processInfo.environment
        let home = env["HOME"] ?? NSHomeDirectory()
        let now = Timestamp.now
        var options = Collector.Options()
        let client: KubeClient
        do {
            for name in tables {
                guard Collector.Table(rawValue: name) != nil else {
                    throw UserFacingError("unknown table \(name); collect takes \(Collector.Table.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            if !tables.isEmpty { options.tables = Collector.Table.allCases.filter { tables.contains($0.rawValue) } }
            let config = try KubernetesConfig.load(
                directory: env["KUBETRAIL_CONFIG_DIR"].map(expandTilde) ?? home + "/.kubetrail/config",
                extra: configFiles.map(expandTilde), home: home)
            var connection = config.connection ?? KubernetesConfig.Connection()
            if let kubeconfig { connection.kubeconfigPath = expandTilde(kubeconfig); connection.serviceAccount = false }
            if let context { connection.kubeconfigContext = context; connection.serviceAccount = false }
            if let namespace {
                connection.namespaces = namespace.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                if connection.namespaces.isEmpty { throw UserFacingError("--namespace takes \"*\" or a comma list of namespaces") }
            }
            if let clusterName { connection.clusterName = clusterName }
            client = KubeClient(connection: try connection.resolve(environment: env))
            options.namespaces = connection.namespaces
            options.clusterName = connection.clusterName
            options.auditSource = config.auditSource
            // follow_logs = true streams, like --follow, unless the run is bounded by --to.
            options.follow = follow ?? (to == nil && connection.followLogs)
            options.from = try from.map { try TimeArgument.instant($0, now: now, flag: "--from") } ?? connection.since(now: now)
            options.to = try to.map { try TimeArgument.instant($0, now: now, flag: "--to") }
            if let f = options.from, let t = options.to, f > t { throw UserFacingError("--from \(f) is after --to \(t)") }
            if options.follow && options.to != nil { throw UserFacingError("--follow collects until interrupted; it cannot be combined with --to") }
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }

        let store: any Store
        do { store = try database.open(.readWrite) } catch { printError("\(error)"); throw ExitCode(1) }
        let terminal = !noProgress && isatty(2) == 1
        let collector = Collector(client: client, store: store, options: options) { message in
            FileHandle.standardError.write(Data(((terminal ? "\r\u{1B}[K" : "") + message + "\n").utf8))
        }
        let interrupted = Interruption()
        let signals = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                // The first signal stops collecting (what was read is committed); a second one
                // does not wait for that.
                if interrupted.record() > 1 { _exit(130) }
                collector.stop()
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        let drawing = terminal ? ProgressLine(collector) : nil
        drawing?.start()
        let reports: [Collector.TableReport]
        do { reports = try collector.run() } catch { drawing?.stop(); printError("\(error)"); throw ExitCode(1) }
        drawing?.stop()
        let cut = !options.follow && interrupted.count > 0
        print(
            (cut ? "Interrupted; collected before that from " : "Collected from ")
                + "\(client.connection.server)\(options.clusterName.map { " (cluster \($0))" } ?? ""):")
        for r in reports {
            var line = "  " + r.table.rawValue.padding(toLength: 23, withPad: " ", startingAt: 0) + " stored \(r.stored)"
            if r.removed > 0 { line += ", removed \(r.removed)" }
            if r.duplicates > 0 { line += ", duplicates \(r.duplicates)" }
            if r.skipped > 0 { line += ", skipped \(r.skipped)" }
            if r.rejected > 0 {
                line += ", rejected \(r.rejected)"
                if !r.rejectedBecause.isEmpty {
                    line += " (" + r.rejectedBecause.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")"
                }
            }
            if r.filtered > 0 { line += ", filtered \(r.filtered)" }
            if !r.note.isEmpty { line += "  (\(r.note))" }
            print(line)
        }
        if cut { throw ExitCode(130) }
        let failures = reports.flatMap { r in r.failures.map { "\(r.table.rawValue): \($0)" } }
        if !failures.isEmpty {
            for f in failures { printError(f) }
            printError("some data could not be collected (above); what was collected is stored")
            throw ExitCode(1)
        }
    }

}

/// How many stop signals arrived.
private final class Interruption: @unchecked Sendable {
    private let lock = NSLock()
    private var signals = 0
    func record() -> Int {
        lock.withLock {
            signals += 1; return signals
        }
    }
    var count: Int { lock.withLock { signals } }
}

/// The live one-line tally on a terminal.
private final class ProgressLine: @unchecked Sendable {
    let collector: Collector
    private let lock = NSLock()
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(_ collector: Collector) { self.collector = collector }

    func start() {
        Thread { [self] in
            while lock.withLock({ running }) {
                let parts = collector.progress.map { "\($0.table.rawValue.replacingOccurrences(of: "kubernetes_", with: "")) \($0.stored)" }
                FileHandle.standardError.write(Data(("\r\u{1B}[K  collecting: " + parts.joined(separator: " · ")).utf8))
                Thread.sleep(forTimeInterval: 0.5)
            }
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
            done.signal()
        }.start()
    }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }
}
