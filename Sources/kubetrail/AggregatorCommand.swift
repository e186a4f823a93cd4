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
        abstract: "Run the aggregator: agent ingest, the kube-apiserver audit webhook, health and metrics.")

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

    @Option(help: "Seconds between retention passes (default 300).")
    var retentionInterval: Double?

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

    @Option(help: "Seconds one query may run (default 30).")
    var queryTimeout: Double?

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

    @Option(help: "Seconds before an idle connection is closed (default 60).")
    var idleTimeout: Int?

    @Option(help: "Seconds a client has to send a whole request once its head arrived (default 60).")
    var requestTimeout: Int?

    @Option(help: "Most connections at once (default 1024); past it, new ones wait to be accepted.")
    var maxConnections: Int?

    @Option(help: "text or json (default text).")
    var logFormat: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        var file = AggregatorConfigFile()
        if let path = configFile ?? env["KUBETRAIL_CONFIG"] {
            do { file = try AggregatorConfigFile.load(path: expandTilde(path)) } catch {
                printError("\(error)")
                throw ExitCode(2)
            }
        }
        let json = (logFormat ?? file.logFormat) == "json"
        LoggingSystem.bootstrap { label -> any LogHandler in
            json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        }
        let logger = Logger(label: "kubetrail.aggregator")
        guard let tokens = ingestTokenFile ?? env["KUBETRAIL_INGEST_TOKEN_FILE"] ?? file.ingestTokenFile else {
            printError("--ingest-token-file is required (a file with one token per line)")
            throw ExitCode(2)
        }
        let address = listen ?? env["KUBETRAIL_LISTEN"] ?? file.listen ?? "127.0.0.1:8080"
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port) else {
            printError("--listen must be HOST:PORT, got \(address)")
            throw ExitCode(2)
        }
        let dbPath = database.db.map(expandTilde) ?? env["KUBETRAIL_DB"].map(expandTilde) ?? file.db.map(expandTilde) ?? database.path
        var config = AggregatorConfiguration(databasePath: dbPath, ingestTokenFile: expandTilde(tokens))
        config.databasePasswordFile = database.passwordFile ?? file.dbPasswordFile.map(expandTilde)
        config.queryDatabase = queryDB ?? env["KUBETRAIL_QUERY_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? file.queryDB
        config.queryDatabasePasswordFile =
            (queryDBPasswordFile ?? env["KUBETRAIL_QUERY_DB_PASSWORD_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? file.queryDBPasswordFile).map(expandTilde)
        // A deployment may set the file's place for a reader its Secret does not have (yet):
        // only the flag, given by hand, is an error without a query database.
        if queryDBPasswordFile != nil, config.queryDatabase == nil {
            printError("--query-db-password-file needs --query-db")
            throw ExitCode(2)
        }
        if config.queryDatabase == nil { config.queryDatabasePasswordFile = nil }
        if let query = config.queryDatabase {
            guard case .postgres = try? StoreLocation(parsing: dbPath), case .postgres = try? StoreLocation(parsing: query) else {
                printError(
                    "--query-db is a postgres:// URL for a PostgreSQL store (a role that may only read, `kubetrail grant-reader`); on SQLite, queries already run on a read-only connection"
                )
                throw ExitCode(2)
            }
        }
        config.host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        config.port = port
        config.queryTokenFile = (queryTokenFile ?? env["KUBETRAIL_QUERY_TOKEN_FILE"] ?? file.queryTokenFile).map(expandTilde)
        config.clusterName = clusterName ?? env["KUBETRAIL_CLUSTER_NAME"] ?? file.clusterName
        config.maxBodyBytes = maxBodyBytes ?? file.maxBodyBytes ?? config.maxBodyBytes
        config.maxInflatedBytes = maxInflatedBytes ?? file.maxInflatedBytes ?? config.maxInflatedBytes
        config.tlsCertificate = (tlsCert ?? env["KUBETRAIL_TLS_CERT"] ?? file.tlsCert).map(expandTilde)
        config.tlsKey = (tlsKey ?? env["KUBETRAIL_TLS_KEY"] ?? file.tlsKey).map(expandTilde)
        config.clientCA = (clientCA ?? env["KUBETRAIL_CLIENT_CA"] ?? file.clientCA).map(expandTilde)
        config.retention = file.retention
        for rule in retention {
            let parts = rule.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, KubernetesTables.schema(named: parts[0]) != nil, let seconds = DurationText.seconds(parts[1]), seconds > 0 else {
                printError(
                    "--retention must be TABLE=DURATION with one of \(KubernetesTables.all.map(\.name).joined(separator: ", ")) and a duration like 14d, got \(rule)"
                )
                throw ExitCode(2)
            }
            config.retention[parts[0]] = seconds
        }
        config.retentionInterval = max(0.05, retentionInterval ?? file.retentionInterval ?? config.retentionInterval)
        config.digestSigningKey = (digestSigningKey ?? file.digestSigningKey).map(expandTilde)
        config.digestDirectory = (digestDirectory ?? file.digestDirectory).map(expandTilde)
        if let text = digestInterval {
            guard let seconds = DurationText.seconds(text), seconds > 0 else {
                printError("--digest-interval must be a duration like 5m, got \(text)"); throw ExitCode(2)
            }
            config.digestInterval = seconds
        } else if let seconds = file.digestInterval {
            config.digestInterval = seconds
        }
        config.queryMaxRows = queryMaxRows ?? file.queryMaxRows ?? config.queryMaxRows
        config.queryTimeout = queryTimeout ?? file.queryTimeout ?? config.queryTimeout
        config.queryMaxBytes = queryMaxBytes ?? config.queryMaxBytes
        // Query limits (issue 13)
        config.queryMaxValueBytes = queryMaxValueBytes ?? config.queryMaxValueBytes
        config.queryMaxJSONBytes = queryMaxJsonBytes ?? config.queryMaxJSONBytes
        if let text = exportTimeout {
            guard let seconds = Double(text) ?? DurationText.seconds(text), seconds > 0 else {
                printError("--export-timeout must be seconds or a duration like 2h, got \(text)")
                throw ExitCode(2)
            }
            config.exportTimeout = seconds
        }
        config.maxConcurrentQueries = maxConcurrentQueries ?? config.maxConcurrentQueries
        config.maxFollowers = maxFollowers ?? file.maxFollowers ?? config.maxFollowers
        if let text = followerStallTimeout ?? file.followerStallTimeout.map({ String($0) }) {
            guard let seconds = Double(text) ?? DurationText.seconds(text), seconds > 0 else {
                printError("--follower-stall-timeout must be seconds or a duration like 1m, got \(text)")
                throw ExitCode(2)
            }
            config.followerStallTimeout = seconds
        }
        guard config.maxFollowers >= 1 else {
            printError("--max-followers must be at least 1")
            throw ExitCode(2)
        }
        guard config.maxConcurrentQueries >= 1, config.queryMaxValueBytes >= 1024, config.queryMaxJSONBytes >= 1 else {
            printError("--max-concurrent-queries must be at least 1, --query-max-value-bytes at least 1024, --query-max-json-bytes at least 1")
            throw ExitCode(2)
        }
        // End of query limits (issue 13)
        config.idleTimeout = max(1, idleTimeout ?? config.idleTimeout)
        config.requestTimeout = max(1, requestTimeout ?? config.requestTimeout)
        config.maxConnections = max(1, maxConnections ?? config.maxConnections)
        config.maxInflightBytes = max(1 << 20, maxInflightBytes ?? config.maxInflightBytes)
        config.maxClustersPerToken = max(1, maxClustersPerToken ?? config.maxClustersPerToken)
        if let mib = pageCacheMib ?? env["KUBETRAIL_PAGE_CACHE_MIB"].flatMap(Int.init) {
            guard mib >= 1 else { printError("--page-cache-mib must be at least 1"); throw ExitCode(2) }
            config.pageCacheMiB = mib
        }
        config.detection = file.detection ?? config.detection
        if noDetections { config.detection.enabled = false }
        config.detection.ruleDirectories = (config.detection.ruleDirectories + detectionRules).map(expandTilde)
        config.alertSinks = file.alertSinks.map { sink in
            var sink = sink
            sink.bearerTokenFile = sink.bearerTokenFile.map(expandTilde)
            sink.caFile = sink.caFile.map(expandTilde)
            return sink
        }
        config.exitAfterCommit = env["KUBETRAIL_TEST_EXIT_AFTER_COMMIT"] == "1"
        if let path = configFile ?? env["KUBETRAIL_CONFIG"] {
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
