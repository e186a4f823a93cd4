/// `kubernetes_pod_logs`: one row per container log line (partials joined).
public struct PodLogRow: TableRow, Equatable {
    public var common: CommonFields
    public var timestamp: Timestamp
    public var namespace: String?
    public var podName: String?
    public var podUID: String?
    public var containerName: String?
    public var containerID: String?
    public var restartCount: Int64?
    public var stream: String?
    public var logMessage: String
    public var logLevel: LogLevel?
    public var nodeName: String?
    public var labels: String?
    public var clusterName: String?
    public var truncated: Bool
    public var partial: Bool

    public static let tableName = "kubernetes_pod_logs"

    public static let schema = TableSchema(
        name: tableName,
        description: "Container log lines with their pod, container and detected level.",
        columns: CommonFields.columns + [
            Column("timestamp", .timestamp, "The runtime's timestamp of the line.", notNull: true),
            Column("namespace", .text, "Pod namespace."),
            Column("pod_name", .text, "Pod name."),
            Column("pod_uid", .text, "Pod UID."),
            Column("container_name", .text, "Container name."),
            Column("container_id", .text, "Container ID (from /var/log/containers names)."),
            Column("restart_count", .int, "Container restart count (the <n>.log file number)."),
            Column("stream", .text, "stdout or stderr."),
            Column("log_message", .text, "The line, partial pieces joined, trailing newline removed."),
            Column("log_level", .text, "ERROR, WARN, INFO, DEBUG, TRACE, FATAL, or null when the line declares none."),
            Column("node_name", .text, "Node the container ran on."),
            Column("labels", .json, "Pod labels, when known."),
            Column("cluster_name", .text, "Configured cluster name."),
            Column("log_truncated", .bool, "True when the joined line exceeded the size cap and was cut."),
            Column("log_partial", .bool, "True when the input ended before the line did; replaced once the whole line is read.")
        ],
        timeColumn: "timestamp",
        indexes: [
            ["timestamp"],
            ["log_level", "timestamp"],
            ["namespace", "pod_name", "timestamp"]
        ],
        // A line stored while its file was still being written is completed, never duplicated.
        conflict: .replaceWhileStored(column: "log_partial"))

    public var values: [ColumnValue] {
        var v: [ColumnValue] = []
        v.reserveCapacity(33)
        common.append(to: &v)
        v.append(.timestamp(timestamp))
        v.append(.text(namespace))
        v.append(.text(podName))
        v.append(.text(podUID))
        v.append(.text(containerName))
        v.append(.text(containerID))
        v.append(.int(restartCount))
        v.append(.text(stream))
        v.append(.text(logMessage))
        v.append(.text(logLevel?.rawValue))
        v.append(.text(nodeName))
        v.append(.text(labels))
        v.append(.text(clusterName))
        v.append(.bool(truncated))
        v.append(.bool(partial))
        return v
    }
}

/// Builds pod-log rows from assembled records of one file or stream.
public struct PodLogNormalizer: Sendable {
    public var context: IngestContext
    public var path: ContainerLogPath
    public var nodeName: String?
    /// Stable identity of the file (fingerprint), so a re-read line gets the same `tp_id`.
    public var fileIdentity: String
    public var labels: String?

    public init(context: IngestContext, path: ContainerLogPath, nodeName: String?, fileIdentity: String, labels: String? = nil) {
        self.context = context
        self.path = path
        self.nodeName = nodeName
        self.fileIdentity = fileIdentity
        self.labels = labels
    }

    public func row(_ record: ContainerLogAssembler.Record) -> PodLogRow {
        let when = record.timestamp ?? context.ingestTimestamp
        let id = RowID.hash([nodeName ?? "", fileIdentity, String(record.offset)])
        var common = CommonFields(id: id, timestamp: when, table: PodLogRow.tableName, context: context)
        if let uid = path.podUID { common.akas = [uid] }
        return PodLogRow(
            common: common, timestamp: when, namespace: path.namespace, podName: path.podName,
            podUID: path.podUID, containerName: path.containerName, containerID: path.containerID,
            restartCount: path.restartCount, stream: record.stream, logMessage: record.message,
            logLevel: LogLevelDetector.detect(record.message), nodeName: nodeName, labels: labels,
            clusterName: context.clusterName, truncated: record.truncated, partial: record.incomplete)
    }
}

/// Builds pod-log rows from lines read through the API (`GET …/log?timestamps=true`). The API
/// interleaves stdout and stderr without saying which, so `stream` is null; a line's identity
/// is (pod uid, container, container instance, timestamp, ordinal among that instance's lines
/// with that timestamp).
public struct APIPodLogNormalizer: Sendable {
    public struct Pod: Sendable {
        public var namespace: String
        public var name: String
        public var uid: String
        public var nodeName: String?
        public var labels: String?

        public init(namespace: String, name: String, uid: String, nodeName: String?, labels: String?) {
            self.namespace = namespace
            self.name = name
            self.uid = uid
            self.nodeName = nodeName
            self.labels = labels
        }
    }

    public static func row(
        timestamp: Timestamp, ordinal: Int, message: String, pod: Pod, container: String,
        containerID: String?, restartCount: Int64?, context: IngestContext
    ) -> PodLogRow {
        var common = CommonFields(
            id: RowID.hash([pod.uid, container, containerID ?? "", String(timestamp.microseconds), String(ordinal)]),
            timestamp: timestamp, table: PodLogRow.tableName, context: context)
        common.akas = [pod.uid]
        return PodLogRow(
            common: common, timestamp: timestamp, namespace: pod.namespace, podName: pod.name,
            podUID: pod.uid, containerName: container, containerID: containerID,
            restartCount: restartCount, stream: nil, logMessage: message,
            logLevel: LogLevelDetector.detect(message), nodeName: pod.nodeName, labels: pod.labels,
            clusterName: context.clusterName, truncated: false, partial: false)
    }
}
