import Foundation
import KubetrailAggregator
import KubetrailCore
import KubetrailKube
import KubetrailStore
import KubetrailTables

extension AggregatorCommand {
    /// Every setting through the one precedence (flag, `KUBETRAIL_<FLAG>`, the aggregator
    /// block of `--config`, default). A value that cannot be used is a `SettingError`: a usage
    /// error, exit 2.
    func configuration(_ layers: SettingLayers, file: AggregatorConfigFile) throws(SettingError) -> AggregatorConfiguration {
        guard let tokens = layers.text("ingest-token-file", ingestTokenFile, file: file.ingestTokenFile) else {
            throw SettingError("--ingest-token-file is required (a file with one token per line)")
        }
        let address = layers.text("listen", listen, file: file.listen) ?? "127.0.0.1:8080"
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port) else {
            throw SettingError("--listen must be HOST:PORT, got \(address)")
        }
        let dbPath = layers.text("db", database.db, file: file.db).map(expandTilde) ?? expandTilde(database.value)
        var config = AggregatorConfiguration(databasePath: dbPath, ingestTokenFile: expandTilde(tokens))
        config.host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        config.port = port
        config.databasePasswordFile = layers.text("db-password-file", database.dbPasswordFile, file: file.dbPasswordFile).map(expandTilde)
        config.queryDatabase = layers.text("query-db", queryDB, file: file.queryDB)
        config.queryDatabasePasswordFile = layers.text("query-db-password-file", queryDBPasswordFile, file: file.queryDBPasswordFile).map(expandTilde)
        // A deployment may set the file's place for a reader its Secret does not have (yet):
        // only the flag, given by hand, is an error without a query database.
        if queryDBPasswordFile != nil, config.queryDatabase == nil { throw SettingError("--query-db-password-file needs --query-db") }
        if config.queryDatabase == nil { config.queryDatabasePasswordFile = nil }
        if let query = config.queryDatabase {
            guard case .postgres = try? StoreLocation(parsing: dbPath), case .postgres = try? StoreLocation(parsing: query) else {
                throw SettingError(
                    "--query-db is a postgres:// URL for a PostgreSQL store (a role that may only read, `kubetrail grant-reader`); on SQLite, queries already run on a read-only connection"
                )
            }
        }
        config.queryTokenFile = layers.text("query-token-file", queryTokenFile, file: file.queryTokenFile).map(expandTilde)
        config.clusterName = layers.text("cluster-name", clusterName, file: file.clusterName)
        config.tlsCertificate = layers.text("tls-cert", tlsCert, file: file.tlsCert).map(expandTilde)
        config.tlsKey = layers.text("tls-key", tlsKey, file: file.tlsKey).map(expandTilde)
        config.clientCA = layers.text("client-ca", clientCA, file: file.clientCA).map(expandTilde)
        config.maxBodyBytes = try layers.number("max-body-bytes", maxBodyBytes, file: file.maxBodyBytes) ?? config.maxBodyBytes
        config.maxInflatedBytes = try layers.number("max-inflated-bytes", maxInflatedBytes, file: file.maxInflatedBytes) ?? config.maxInflatedBytes

        config.retention = file.retention
        let variable = SettingLayers.variable(for: "retention")
        let fromVariable = retention.isEmpty ? layers.environment(variable).map { $0.split(separator: ",").map(String.init) } : nil
        for rule in fromVariable ?? retention {
            let parts = rule.split(separator: "=", maxSplits: 1).map(String.init)
            // A second at least: a unit slip (10ms for 10m) must not empty a table.
            guard parts.count == 2, KubernetesTables.schema(named: parts[0]) != nil, let seconds = DurationText.seconds(parts[1]), seconds >= 1 else {
                throw SettingError(
                    "\(fromVariable == nil ? "--retention" : variable) must be TABLE=DURATION with one of \(KubernetesTables.all.map(\.name).joined(separator: ", ")) and a duration like 14d, got \(rule)"
                )
            }
            config.retention[parts[0]] = seconds
        }
        config.retentionInterval = max(
            0.05, try layers.duration("retention-interval", retentionInterval, file: file.retentionInterval) ?? config.retentionInterval)
        config.digestSigningKey = layers.text("digest-signing-key", digestSigningKey, file: file.digestSigningKey).map(expandTilde)
        config.digestDirectory = layers.text("digest-directory", digestDirectory, file: file.digestDirectory).map(expandTilde)
        config.digestInterval = try layers.duration("digest-interval", digestInterval, file: file.digestInterval, positive: true) ?? config.digestInterval

        config.queryMaxRows = try layers.number("query-max-rows", queryMaxRows, file: file.queryMaxRows) ?? config.queryMaxRows
        config.queryTimeout = try layers.duration("query-timeout", queryTimeout, file: file.queryTimeout, positive: true) ?? config.queryTimeout
        config.queryMaxBytes = try layers.number("query-max-bytes", queryMaxBytes) ?? config.queryMaxBytes
        config.queryMaxValueBytes = try layers.number("query-max-value-bytes", queryMaxValueBytes) ?? config.queryMaxValueBytes
        config.queryMaxJSONBytes = try layers.number("query-max-json-bytes", queryMaxJsonBytes) ?? config.queryMaxJSONBytes
        config.exportTimeout = try layers.duration("export-timeout", exportTimeout, positive: true) ?? config.exportTimeout
        config.maxConcurrentQueries = try layers.number("max-concurrent-queries", maxConcurrentQueries) ?? config.maxConcurrentQueries
        config.maxFollowers = try layers.number("max-followers", maxFollowers, file: file.maxFollowers) ?? config.maxFollowers
        config.followerStallTimeout =
            try layers.duration("follower-stall-timeout", followerStallTimeout, file: file.followerStallTimeout, positive: true)
            ?? config.followerStallTimeout
        guard config.maxFollowers >= 1 else { throw SettingError("--max-followers must be at least 1") }
        guard config.maxConcurrentQueries >= 1, config.queryMaxValueBytes >= 1024, config.queryMaxJSONBytes >= 1 else {
            throw SettingError("--max-concurrent-queries must be at least 1, --query-max-value-bytes at least 1024, --query-max-json-bytes at least 1")
        }

        // A day at most: longer is no timeout, and a huge number must not overflow Int.
        if let idle = try layers.duration("idle-timeout", idleTimeout) { config.idleTimeout = Int(min(idle, 86_400).rounded(.up)) }
        config.idleTimeout = max(1, config.idleTimeout)
        if let request = try layers.duration("request-timeout", requestTimeout) { config.requestTimeout = Int(min(request, 86_400).rounded(.up)) }
        config.requestTimeout = max(1, config.requestTimeout)
        config.maxConnections = max(1, try layers.number("max-connections", maxConnections) ?? config.maxConnections)
        config.maxInflightBytes = max(1 << 20, try layers.number("max-inflight-bytes", maxInflightBytes) ?? config.maxInflightBytes)
        config.maxClustersPerToken = max(1, try layers.number("max-clusters-per-token", maxClustersPerToken) ?? config.maxClustersPerToken)
        if let mib = try layers.number("page-cache-mib", pageCacheMib) {
            guard mib >= 1 else { throw SettingError("--page-cache-mib must be at least 1") }
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
        return config
    }
}
