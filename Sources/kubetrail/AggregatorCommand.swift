import ArgumentParser
import Foundation
import KubetrailAggregator
import KubetrailKube
import KubetrailStore
import KubetrailTables
import Logging

struct AggregatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregator",
        abstract: "Run the aggregator: agent ingest, the kube-apiserver audit webhook, health and metrics.",
        discussion: """
            Every flag has an environment variable named for it (--max-body-bytes is KUBETRAIL_MAX_BODY_BYTES); \
            flags win over the variables, which win over the aggregator { … } block of --config. Durations \
            are written 500ms, 30s, 5m, 1h30m, or as a bare number of seconds.
            """)

    @Option(help: "HOST:PORT to listen on (port 0 picks a free one). Env: KUBETRAIL_LISTEN.")
    var listen: String?

    @OptionGroup var database: DatabaseOptions

    @Option(
        name: .customLong("query-db"),
        help: ArgumentHelp(
            "PostgreSQL only: the same database as a role that may only read (`kubetrail grant-reader`), for /v1/query and /v1/export. Env: KUBETRAIL_QUERY_DB.",
            valueName: "postgres://…"))
    var queryDB: String?

    @Option(
        name: .customLong("query-db-password-file"),
        help: ArgumentHelp("A file whose first line is the query role's password. Env: KUBETRAIL_QUERY_DB_PASSWORD_FILE.", valueName: "path"))
    var queryDBPasswordFile: String?

    @Option(help: "File of ingest tokens, one per line (re-read when it changes). Env: KUBETRAIL_INGEST_TOKEN_FILE.")
    var ingestTokenFile: String?

    @Option(help: "File of query tokens, one per line. Env: KUBETRAIL_QUERY_TOKEN_FILE.")
    var queryTokenFile: String?

    @Option(help: "Cluster name stored on rows (overrides what agents send). Env: KUBETRAIL_CLUSTER_NAME.")
    var clusterName: String?

    @Option(name: .customLong("config"), help: "Configuration file with an aggregator { … } block (flags and environment win over it). Env: KUBETRAIL_CONFIG.")
    var configFile: String?

    @Option(help: "Largest compressed request body, in bytes (default 32 MiB).")
    var maxBodyBytes: Int?

    @Option(help: "Largest inflated batch, in bytes (default 32 MiB).")
    var maxInflatedBytes: Int?

    @Option(help: "Memory for the batches being decoded at once, in bytes (default 128 MiB): inflated bytes plus 768 per record; past it, 503.")
    var maxInflightBytes: Int?

    @Option(help: "Clusters one ingest token not bound with cluster= may send (default 1).")
    var maxClustersPerToken: Int?

    @Option(help: "TLS certificate chain (PEM). Without it the aggregator serves plain HTTP.")
    var tlsCert: String?

    @Option(help: "TLS private key (PEM).")
    var tlsKey: String?

    @Option(help: "CA (PEM) whose client certificates are required (mutual TLS); they also authenticate the audit webhook.")
    var clientCA: String?

    @Option(help: ArgumentHelp("Maximum age of a table's rows, as TABLE=DURATION (e.g. kubernetes_pod_logs=14d); repeatable.", valueName: "TABLE=DURATION"))
    var retention: [String] = []

    @Option(help: "How often retention runs: seconds, or a duration like 5m (default 300).")
    var retentionInterval: String?

    @Option(help: "Ed25519 key (base64, `kubetrail keygen`) that signs the audit digests (default: audit-digest.key beside the database, made on first start).")
    var digestSigningKey: String?

    @Option(help: ArgumentHelp("How often a signed digest of the audit chain is written (default 5m).", valueName: "DURATION"))
    var digestInterval: String?

    @Option(help: "Also write each digest as a file here (a volume copied off the host).")
    var digestDirectory: String?

    @Flag(help: "Turn continuous detection off (default: the built-in rules run on every committed audit row).")
    var noDetections = false

    @Option(
        name: .customLong("detection-rules"),
        help: ArgumentHelp("Sigma rule files or directories continuous detection runs beside the built-in pack; repeatable.", valueName: "PATH"))
    var detectionRules: [String] = []

    @Option(help: "Most rows one query may return (default 100,000).")
    var queryMaxRows: Int?

    @Option(help: "How long one query may run: seconds, or a duration like 1m (default 30).")
    var queryTimeout: String?

    @Option(help: "Bytes one query may return (default 256 MiB; a buffered JSON answer a quarter of it).")
    var queryMaxBytes: Int?

    // Query limits (issue 13)
    @Option(help: "Longest string or blob a query or export may read or build, in bytes (default 16 MiB).")
    var queryMaxValueBytes: Int?

    @Option(help: "Bytes of a format=json answer, which is buffered whole (default 16 MiB; jsonl, csv and rows stream).")
    var queryMaxJsonBytes: Int?

    @Option(help: "How long one /v1/export may run: seconds, or a duration like 2h (default 1h).")
    var exportTimeout: String?

    @Option(help: "Queries and exports running at once; more are answered 503 (default 4).")
    var maxConcurrentQueries: Int?

    @Option(help: "Followers of /v1/tail connected at once; more are answered 503 (default 64).")
    var maxFollowers: Int?

    @Option(help: "Cut a follower whose client reads nothing for this long: seconds, or a duration like 1m (default 30 s). It resumes by cursor.")
    var followerStallTimeout: String?
    // End of query limits (issue 13)

    @Option(help: "SQLite page cache of the writer, in MiB (default 80): most of the memory a warm aggregator holds. Env: KUBETRAIL_PAGE_CACHE_MIB.")
    var pageCacheMib: Int?

    @Option(help: "How long an idle connection stays open: seconds, or a duration like 2m (default 60).")
    var idleTimeout: String?

    @Option(help: "How long a client has to send a whole request once its head arrived: seconds, or a duration (default 60).")
    var requestTimeout: String?

    @Option(help: "Most connections at once (default 1024); past it, new ones wait to be accepted.")
    var maxConnections: Int?

    @Option(help: "text or json (default text).")
    var logFormat: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let layers = SettingLayers(environment: env)
        var file = AggregatorConfigFile()
        let configPath = layers.text("config", configFile)
        if let path = configPath {
            do { file = try AggregatorConfigFile.load(path: expandTilde(path)) } catch {
                printError("\(error)")
                throw ExitCode(2)
            }
        }
        let json = layers.text("log-format", logFormat, file: file.logFormat) == "json"
        LoggingSystem.bootstrap { label -> any LogHandler in
            json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        }
        let logger = Logger(label: "kubetrail.aggregator")
        var config: AggregatorConfiguration
        do { config = try configuration(layers, file: file) } catch {
            printError(error.description)
            throw ExitCode(2)
        }
        if let path = configPath {
            // The connection "kubernetes" block of the same file: events and resources are polled.
            do {
                let kube = try KubernetesConfig.load(directory: nil, extra: [expandTilde(path)], home: NSHomeDirectory())
                if let c = kube.connection {
                    config.kubernetes = try c.resolve(environment: env)
                    config.kubernetesIncludeEvents = c.includeEvents
                    config.kubernetesNamespaces = c.namespaces
                    if config.clusterName == nil { config.clusterName = c.clusterName }
                    if kube.auditSource.readsThroughAPI {
                        config.kubernetesAuditMethods = kube.auditSource.methods.filter { $0 != .file }
                        config.kubernetesAuditSince = c.since(now: .now)
                    }
                } else if kube.auditSource.readsThroughAPI {
                    throw UserFacingError(
                        "\(path): source \"kubernetes_audit_logs\" reads pod logs through the API, which needs a connection \"kubernetes\" block")
                }
            } catch {
                printError("\(error)")
                throw ExitCode(2)
            }
        }
        let aggregator: Aggregator
        do {
            aggregator = try Aggregator(configuration: config, logger: logger)
        } catch let error as AggregatorError {
            // A bad setting (a detection rule that does not compile) is a usage error, as a bad flag is.
            printError("\(error)")
            if case .configuration = error { throw ExitCode(2) }
            throw ExitCode(1)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        aggregator.bootstrapMetrics()
        let host = config.host, db = aggregator.store.description
        let scheme = config.tlsCertificate == nil ? "http" : "https"
        let mutual = config.clientCA != nil
        do {
            try await aggregator.run { port in
                if scheme == "http" { logger.warning("serving plain HTTP: no --tls-cert given") }
                logger.info("listening", metadata: ["address": "\(scheme)://\(host):\(port)", "db": "\(db)", "mutual_tls": "\(mutual)"])
                // Tests and scripts wait for this line to learn the port.
                FileHandle.standardOutput.write(Data("kubetrail aggregator listening on \(scheme)://\(host):\(port)\n".utf8))
            }
        } catch let error as AggregatorError {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
