import Foundation
import KubetrailDetect
import KubetrailTables

/// The `aggregator { … }` block of a kubetrail `.tpc` (HCL) file. Other blocks (`connection`,
/// `source`) belong to other components and are left alone; unknown options inside this block
/// are errors naming the file, line and option.
public struct AggregatorConfigFile: Sendable {
    public var listen: String?
    public var db: String?
    public var dbPasswordFile: String?
    public var queryDB: String?
    public var queryDBPasswordFile: String?
    public var ingestTokenFile: String?
    public var queryTokenFile: String?
    public var clusterName: String?
    public var tlsCert: String?
    public var tlsKey: String?
    public var clientCA: String?
    public var maxBodyBytes: Int?
    public var maxInflatedBytes: Int?
    public var queryMaxRows: Int?
    public var queryTimeout: Double?
    public var maxFollowers: Int?
    public var followerStallTimeout: Double?
    public var logFormat: String?
    public var retention: [String: Double] = [:]
    public var retentionInterval: Double?
    public var digestSigningKey: String?
    public var digestInterval: Double?
    public var digestDirectory: String?
    /// The `detection { … }` block, when given (fields it leaves out keep their defaults).
    public var detection: DetectionSettings?
    public var alertSinks: [AlertSinkSettings] = []

    public init() {}

    public static func load(path: String) throws -> AggregatorConfigFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AggregatorError.configuration("cannot read config file \(path)")
        }
        let document: HCL.Document
        do { document = try HCL.parse(text, file: path) } catch { throw AggregatorError.configuration(error.description) }
        let blocks = document.blocks.filter { $0.type == "aggregator" }
        var config = AggregatorConfigFile()
        guard let block = blocks.first else { return config }
        func fail(_ line: Int, _ message: String) -> AggregatorError { .configuration("\(path):\(line): \(message)") }
        if blocks.count > 1 { throw fail(blocks[1].line, "only one aggregator block is allowed") }
        if !block.labels.isEmpty { throw fail(block.line, "the aggregator block takes no label") }

        let options = HCLOptions(file: path)
        func string(_ a: HCL.Attribute) throws -> String {
            do { return try options.string(a) } catch { throw AggregatorError.configuration(error.description) }
        }
        func int(_ a: HCL.Attribute) throws -> Int {
            do { return try options.wholeNumber(a) } catch { throw AggregatorError.configuration(error.description) }
        }
        func duration(_ a: HCL.Attribute) throws -> Double {
            do { return try options.duration(a) } catch { throw AggregatorError.configuration(error.description) }
        }
        for a in block.attributes {
            switch a.name {
            case "listen": config.listen = try string(a)
            case "db": config.db = try string(a)
            case "db_password_file": config.dbPasswordFile = try string(a)
            case "query_db": config.queryDB = try string(a)
            case "query_db_password_file": config.queryDBPasswordFile = try string(a)
            case "ingest_token_file": config.ingestTokenFile = try string(a)
            case "query_token_file": config.queryTokenFile = try string(a)
            case "cluster_name": config.clusterName = try string(a)
            case "tls_cert": config.tlsCert = try string(a)
            case "tls_key": config.tlsKey = try string(a)
            case "client_ca": config.clientCA = try string(a)
            case "max_body_bytes": config.maxBodyBytes = try int(a)
            case "max_inflated_bytes": config.maxInflatedBytes = try int(a)
            case "query_max_rows": config.queryMaxRows = try int(a)
            case "query_timeout": config.queryTimeout = try duration(a)
            case "max_followers": config.maxFollowers = try int(a)
            case "follower_stall_timeout": config.followerStallTimeout = try duration(a)
            case "retention_interval": config.retentionInterval = try duration(a)
            case "digest_signing_key": config.digestSigningKey = try string(a)
            case "digest_interval": config.digestInterval = try duration(a)
            case "digest_directory": config.digestDirectory = try string(a)
            case "log_format":
                let f = try string(a)
                guard f == "text" || f == "json" else { throw fail(a.line, "log_format must be \"text\" or \"json\"") }
                config.logFormat = f
            default:
                throw fail(a.line, "unknown option \(a.name) in the aggregator block")
            }
        }
        for b in block.blocks {
            switch b.type {
            case "retention":
                guard b.labels.isEmpty, b.blocks.isEmpty else { throw fail(b.line, "the retention block takes no label and no block") }
                for a in b.attributes {
                    guard KubernetesTables.schema(named: a.name) != nil else {
                        throw fail(a.line, "unknown table \(a.name) in retention (tables: \(KubernetesTables.all.map(\.name).joined(separator: ", ")))")
                    }
                    let seconds = try duration(a)
                    // A second at least: a unit slip (10ms for 10m) must not empty a table.
                    guard seconds >= 1 else { throw fail(a.line, "retention of \(a.name) must be a second or more") }
                    config.retention[a.name] = seconds
                }
            case "detection":
                guard b.labels.isEmpty, b.blocks.isEmpty else { throw fail(b.line, "the detection block takes no label and no block") }
                guard config.detection == nil else { throw fail(b.line, "only one detection block is allowed") }
                config.detection = try detection(b, options, fail)
            case "alert":
                let sink = try alertSink(b, options, fail)
                guard !config.alertSinks.contains(where: { $0.name == sink.name }) else { throw fail(b.line, "two alert blocks are named \(sink.name)") }
                config.alertSinks.append(sink)
            default:
                throw fail(b.line, "unknown block \(b.type) in the aggregator block (retention, detection, alert)")
            }
        }
        return config
    }

    static func detection(_ b: HCL.Block, _ options: HCLOptions, _ fail: (Int, String) -> AggregatorError) throws -> DetectionSettings {
        var d = DetectionSettings()
        do {
            for a in b.attributes {
                switch a.name {
                case "enabled": d.enabled = try options.bool(a)
                case "rules": d.ruleDirectories = try options.strings(a)
                case "builtin": d.builtIn = try options.bool(a)
                case "interval": d.interval = try options.duration(a)
                case "start":
                    switch try options.string(a) {
                    case "now": d.fromBeginning = false
                    case "beginning": d.fromBeginning = true
                    default: throw fail(a.line, "start must be \"now\" (rows committed from now on) or \"beginning\" (every stored row)")
                    }
                default: throw fail(a.line, "unknown option \(a.name) in the detection block (enabled, rules, builtin, interval, start)")
                }
            }
        } catch let e as HCL.ParseError { throw AggregatorError.configuration(e.description) }
        return d
    }

    static func alertSink(_ b: HCL.Block, _ options: HCLOptions, _ fail: (Int, String) -> AggregatorError) throws -> AlertSinkSettings {
        guard b.blocks.isEmpty, b.labels.count == 2, let kind = AlertSinkSettings.Kind(rawValue: b.labels[0]), !b.labels[1].isEmpty else {
            throw fail(b.line, "an alert block is alert \"alertmanager\" \"NAME\" { url = … } or alert \"webhook\" \"NAME\" { url = … }")
        }
        guard let urlAttribute = b.attribute("url") else { throw fail(b.line, "alert \"\(b.labels[1])\" needs url") }
        var sink = AlertSinkSettings(kind: kind, name: b.labels[1], url: "")
        do {
            sink.url = try options.string(urlAttribute)
            guard sink.url.hasPrefix("http://") || sink.url.hasPrefix("https://") else {
                throw fail(urlAttribute.line, "url must be an http:// or https:// URL")
            }
            for a in b.attributes {
                switch a.name {
                case "url": break
                case "bearer_token_file": sink.bearerTokenFile = try options.string(a)
                case "ca_file": sink.caFile = try options.string(a)
                case "min_severity":
                    let text = try options.string(a)
                    guard let s = Severity(rawValue: text) else { throw fail(a.line, "min_severity must be informational, low, medium, high or critical") }
                    sink.minSeverity = s
                case "batch_size":
                    sink.batchSize = try options.wholeNumber(a)
                    guard sink.batchSize > 0 else { throw fail(a.line, "batch_size must be at least 1") }
                case "max_per_minute":
                    sink.maxPerMinute = try options.wholeNumber(a)
                    guard sink.maxPerMinute > 0 else { throw fail(a.line, "max_per_minute must be at least 1") }
                case "timeout": sink.timeout = try options.duration(a)
                default:
                    throw fail(
                        a.line,
                        "unknown option \(a.name) in alert \"\(sink.name)\" (url, bearer_token_file, ca_file, min_severity, batch_size, max_per_minute, timeout)"
                    )
                }
            }
        } catch let e as HCL.ParseError { throw AggregatorError.configuration(e.description) }
        return sink
    }
}
