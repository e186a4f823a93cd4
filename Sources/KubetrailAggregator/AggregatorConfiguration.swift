import KubetrailKube
import KubetrailCore
/// How the aggregator runs; set from flags (and, later, the HCL `aggregator { … }` block).
public struct AggregatorConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var databasePath: String
    /// The PostgreSQL password's file (`--db-password-file`), for a postgres:// store.
    public var databasePasswordFile: String?
    /// Where `/v1/query` and `/v1/export` run their SQL (`--query-db`): the same database as a
    /// role that may only read (`kubetrail grant-reader`); nil runs them on the store's own
    /// connection settings, in read-only transactions.
    public var queryDatabase: String?
    public var queryDatabasePasswordFile: String?
    /// Seconds between checks of the store's leader lock (aggregators sharing PostgreSQL).
    public var leaderCheckInterval: Double = 5
    /// SQLite's page cache for the writer, in MiB: most of the aggregator's memory once warm.
    public var pageCacheMiB = Aggregator.pageCacheMiB
    public var ingestTokenFile: String
    public var queryTokenFile: String?
    /// Cluster name stored on rows, overriding what agents send.
    public var clusterName: String?
    /// Largest compressed request body accepted.
    public var maxBodyBytes = 32 << 20
    /// Largest inflated batch, and the largest inflated/compressed ratio above 1 MiB: a zlib
    /// bomb meets one of these and gets 413, never memory exhaustion.
    public var maxInflatedBytes = 32 << 20
    public var maxInflationRatio = 200
    public var maxRecordBytes = 16 << 20
    /// Memory for the batches being decoded at once (ingest and webhook), counted as inflated
    /// bytes plus `ByteBudget.recordOverhead` per record: past it, 503 (413 for a batch that
    /// alone needs more). The agent's 1 MiB batches need up to ~9 MiB each.
    public var maxInflightBytes = 128 << 20
    /// Clusters one token not bound to a cluster (`cluster=` in the token file) may send.
    public var maxClustersPerToken = 1
    /// Seconds a client has to send a whole request (head and body) once it starts one.
    public var requestTimeout = 60
    /// Rows waiting for a commit before new batches are turned away with 503.
    public var maxQueuedRows = 200_000
    /// TLS: certificate chain and key (PEM); with `clientCA`, clients must present a
    /// certificate it signed (mutual TLS), which then authenticates the audit webhook.
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var clientCA: String?
    /// Maximum age per table name, in seconds, and how often retention runs.
    public var retention: [String: Double] = [:]
    public var retentionInterval = 300.0
    /// The audit trail's signed digests (docs/integrity.md): the Ed25519 key file (nil: one made
    /// beside the database on first start), how often, and a directory to also write them to.
    public var digestSigningKey: String?
    public var digestInterval = 300.0
    public var digestDirectory: String?
    /// Query limits: rows per result and seconds per query.
    public var queryMaxRows = 100_000
    public var queryTimeout = 30.0
    /// Bytes one query may return (JSON answers, which are buffered, are capped at a quarter).
    public var queryMaxBytes = 256 << 20
    // Query limits (issue 13)
    /// The longest string or blob a query or export may read or build: bounds what one SQL
    /// function call costs and one value's memory (agents ship records up to 16 MiB).
    public var queryMaxValueBytes = 16 << 20
    /// Seconds one `/v1/export` stream may run: a whole table takes longer than a query.
    public var exportTimeout = 3600.0
    /// Queries and exports running at once, together; more are answered 503 at once.
    public var maxConcurrentQueries = 4
    /// Largest `format=json` answer, buffered whole in memory (jsonl, csv and rows stream).
    public var queryMaxJSONBytes = 16 << 20
    // End of query limits (issue 13)
    /// Followers (`/v1/tail`) at once; more are answered 503. Each holds a thread that mostly waits.
    public var maxFollowers = 64
    /// A follower whose client takes nothing for this long is cut (with an error line it reads
    /// if it comes back) and its thread and connection released; it resumes by cursor.
    public var followerStallTimeout = 30.0
    /// How often a caught-up follower looks for changes committed by other aggregators (its own
    /// aggregator's commits wake it at once).
    public var followerPollInterval = 0.5
    /// Seconds before an idle connection is closed, and the most connections at once.
    public var idleTimeout = 60
    public var maxConnections = 1024
    /// Continuous detection over committed audit rows, and where its findings are sent.
    public var detection = DetectionSettings()
    public var alertSinks: [AlertSinkSettings] = []
    /// The cluster whose events and resources are polled (the `connection "kubernetes"` block);
    /// nil polls nothing.
    public var kubernetes: ClusterConnection?
    public var kubernetesIncludeEvents = true
    /// `["*"]` or the namespaces whose objects are stored.
    public var kubernetesNamespaces = ["*"]
    /// Audit events read from pod logs (`source "kubernetes_audit_logs"` with `method =
    /// "apiserver"`/`"daemonset"` or `api_only`), methods tried in order; empty: agents ship files.
    public var kubernetesAuditMethods: [KubernetesConfig.AuditMethod] = []
    /// Where a stream with no saved cursor starts (`since_time`); nil: all the kubelet has.
    public var kubernetesAuditSince: Timestamp?

    public init(databasePath: String, ingestTokenFile: String) {
        self.databasePath = databasePath
        self.ingestTokenFile = ingestTokenFile
    }
}
