import Crypto

/// Where a row came from, in Tailpipe's terms (`tp_source_type`).
public enum SourceType: String, Sendable, CaseIterable {
    case auditFile = "audit_file"
    case auditWebhook = "audit_webhook"
    case apiserverLog = "apiserver_log"
    case containerFile = "container_file"
    case podLogAPI = "pod_log_api"
    case apiWatch = "api_watch"
    /// A saved API response (`kubectl get … -o json`) loaded with `kubetrail import`.
    case fileImport = "file_import"
    /// A finding of the aggregator's continuous detection (`kubernetes_detections`).
    case detection = "detection"
}

/// Who is loading rows and from where: the same for every row of one file, batch or stream.
public struct IngestContext: Sendable {
    public var clusterName: String?
    public var partition: String
    public var sourceType: SourceType
    public var sourceName: String?
    public var sourceLocation: String?
    public var ingestTimestamp: Timestamp

    public init(
        clusterName: String? = nil, partition: String = "default", sourceType: SourceType,
        sourceName: String? = nil, sourceLocation: String? = nil, ingestTimestamp: Timestamp = .now
    ) {
        self.clusterName = clusterName
        self.partition = partition
        self.sourceType = sourceType
        self.sourceName = sourceName
        self.sourceLocation = sourceLocation
        self.ingestTimestamp = ingestTimestamp
    }
}

/// The `tp_*` columns every table carries.
public struct CommonFields: Sendable, Equatable {
    public var id: String
    public var timestamp: Timestamp
    public var ingestTimestamp: Timestamp
    public var table: String
    public var partition: String
    public var index: String
    public var sourceType: SourceType
    public var sourceName: String?
    public var sourceLocation: String?
    public var sourceIP: String?
    public var destinationIP: String?
    public var akas: [String] = []
    public var ips: [String] = []
    public var usernames: [String] = []
    public var tags: [String] = []
    public var emails: [String] = []
    public var domains: [String] = []

    public init(id: String, timestamp: Timestamp, table: String, context: IngestContext) {
        self.id = id
        self.timestamp = timestamp
        self.ingestTimestamp = context.ingestTimestamp
        self.table = table
        self.partition = context.partition
        self.index = context.clusterName ?? "default"
        self.sourceType = context.sourceType
        self.sourceName = context.sourceName
        self.sourceLocation = context.sourceLocation
    }

    public static let columns: [Column] = [
        Column("tp_id", .text, "Deterministic row id: a re-sent row is stored once.", notNull: true),
        Column("tp_timestamp", .timestamp, "When the thing happened (see the table's time column).", notNull: true),
        Column("tp_date", .date, "Day of tp_timestamp (UTC)."),
        Column("tp_ingest_timestamp", .timestamp, "When kubetrail stored the row."),
        Column("tp_table", .text, "The table's name."),
        Column("tp_partition", .text, "Partition name; 'default' unless configured."),
        Column("tp_index", .text, "The cluster name (cluster_name), or 'default'."),
        Column("tp_source_type", .text, "audit_file, audit_webhook, apiserver_log, container_file, pod_log_api, api_watch, file_import or detection."),
        Column("tp_source_name", .text, "Node name, or the API server URL."),
        Column("tp_source_location", .text, "File path or API path the row came from."),
        Column("tp_source_ip", .text, "Audit: the first source IP; otherwise null."),
        Column("tp_destination_ip", .text, "Destination IP when known; otherwise null."),
        Column("tp_akas", .list, "Searchable object UIDs."),
        Column("tp_ips", .list, "Searchable IP addresses."),
        Column("tp_usernames", .list, "Searchable user names (including impersonated users)."),
        Column("tp_tags", .list, "Searchable labels as k=v."),
        Column("tp_emails", .list, "E-mail addresses found in user names."),
        Column("tp_domains", .list, "Domains of those e-mail addresses.")
    ]

    @inlinable
    public func append(to values: inout [ColumnValue]) {
        values.append(.text(id))
        let iso = timestamp.iso8601
        values.append(.text(iso))
        values.append(.text(String(iso.prefix(10))))
        values.append(.timestamp(ingestTimestamp))
        values.append(.text(table))
        values.append(.text(partition))
        values.append(.text(index))
        values.append(.text(sourceType.rawValue))
        values.append(.text(sourceName))
        values.append(.text(sourceLocation))
        values.append(.text(sourceIP))
        values.append(.text(destinationIP))
        values.append(.nonEmptyList(akas))
        values.append(.nonEmptyList(ips))
        values.append(.nonEmptyList(usernames))
        values.append(.nonEmptyList(tags))
        values.append(.nonEmptyList(emails))
        values.append(.nonEmptyList(domains))
    }

    /// Adds the e-mail addresses (and their domains) found among user names.
    mutating func collectEmails(from names: [String]) {
        for name in names {
            // Cloud identities look like `user@example.com` or `system:…:user@example.com`.
            let candidate = name.split(separator: ":").last.map(String.init) ?? name
            guard let at = candidate.firstIndex(of: "@") else { continue }
            let domain = candidate[candidate.index(after: at)...]
            guard at > candidate.startIndex, domain.contains("."), !domain.hasPrefix("."), !domain.contains("@") else { continue }
            if !emails.contains(candidate) { emails.append(candidate) }
            let d = String(domain)
            if !domains.contains(d) { domains.append(d) }
        }
    }
}

/// Stable ids for rows that have no natural unique key.
public enum RowID {
    /// 32 hex digits of SHA-256 over the parts, NUL-separated so parts cannot run together.
    public static func hash(_ parts: [String]) -> String {
        var hasher = SHA256()
        for (i, part) in parts.enumerated() {
            if i > 0 { hasher.update(data: [0]) }
            hasher.update(data: Array(part.utf8))
        }
        let digest = hasher.finalize()
        var out = ""
        out.reserveCapacity(32)
        for byte in digest.prefix(16) {
            out += String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
