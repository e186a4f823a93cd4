import Foundation
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
    public var logFormat: String?
    public var retention: [String: Double] = [:]
    public var retentionInterval: Double?
    public var digestSigningKey: String?
    public var digestInterval: Double?
    public var digestDirectory: String?

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
            guard b.type == "retention", b.labels.isEmpty, b.blocks.isEmpty else { throw fail(b.line, "unknown block \(b.type) in the aggregator block") }
            for a in b.attributes {
                guard KubernetesTables.schema(named: a.name) != nil else {
                    throw fail(a.line, "unknown table \(a.name) in retention (tables: \(KubernetesTables.all.map(\.name).joined(separator: ", ")))")
                }
                config.retention[a.name] = try duration(a)
            }
        }
        return config
    }
}
