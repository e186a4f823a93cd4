/// What the agent exposes on `/metrics` (Prometheus text format). Counters are bumped by the
/// tailer and shipper threads; per-file figures are a snapshot the tailer publishes each second.
public final class AgentMetrics: @unchecked Sendable {
    public struct FileState: Sendable {
        public var path: String
        public var size: UInt64
        public var read: UInt64
        public var acked: UInt64
        public var lag: UInt64 { size > acked ? size - acked : 0 }
    }

    public enum Counter: String, CaseIterable, Sendable {
        case rotations = "kubetrail_agent_rotations_total"
        case truncations = "kubetrail_agent_truncations_total"
        case copiesFollowed = "kubetrail_agent_truncated_files_continued_from_copy_total"
        case truncatedLines = "kubetrail_agent_truncated_lines_total"
        case flushedOpenGroups = "kubetrail_agent_unfinished_groups_flushed_total"
        case retries = "kubetrail_agent_retries_total"
        case inotifyOverflows = "kubetrail_agent_inotify_overflows_total"
        case batchesAcked = "kubetrail_agent_batches_acked_total"
        case batchesSplit = "kubetrail_agent_batches_split_total"
        case batchesQuarantined = "kubetrail_agent_batches_quarantined_total"
        case recordsAcked = "kubetrail_agent_records_acked_total"
        case recordsRejected = "kubetrail_agent_records_rejected_by_aggregator_total"
        case bytesRead = "kubetrail_agent_read_bytes_total"
        case bytesSentCompressed = "kubetrail_agent_sent_compressed_bytes_total"
        case filesOpened = "kubetrail_agent_files_opened_total"
        case filesClosed = "kubetrail_agent_files_closed_total"
        case spooledFiles = "kubetrail_agent_spooled_files_total"
        case lostBytes = "kubetrail_agent_lost_bytes_total"
        case checkpointErrors = "kubetrail_agent_checkpoint_write_errors_total"
        case unconfirmedReplies = "kubetrail_agent_unconfirmed_replies_total"
        case quarantineFull = "kubetrail_agent_quarantine_full_dropped_batches_total"
        case linksOutsidePods = "kubetrail_agent_links_outside_pods_dir_total"
        case notRegularFiles = "kubetrail_agent_not_regular_files_refused_total"
        case metricsConnectionsRefused = "kubetrail_agent_metrics_connections_refused_total"
    }

    public enum Gauge: String, CaseIterable, Sendable {
        case unackedBytes = "kubetrail_agent_unacked_bytes"
        case spoolBytes = "kubetrail_agent_spool_bytes"
        case openFiles = "kubetrail_agent_open_files"
        case heldDeletedFiles = "kubetrail_agent_held_deleted_files"
        case queuedBatches = "kubetrail_agent_queued_batches"
        case readPaused = "kubetrail_agent_read_paused"
        case quarantineBytes = "kubetrail_agent_quarantine_bytes"
    }

    private let monitor = Monitor()
    private var counters: [Counter: UInt64] = [:]
    private var gauges: [Gauge: Int64] = [:]
    private var files: [FileState] = []
    private var heartbeat = monotonicSeconds()

    public init() {}

    public func add(_ c: Counter, _ n: UInt64 = 1) { monitor.locked { counters[c, default: 0] += n } }
    public func set(_ g: Gauge, _ v: Int64) { monitor.locked { gauges[g] = v } }
    public func value(_ c: Counter) -> UInt64 { monitor.locked { counters[c] ?? 0 } }
    public func value(_ g: Gauge) -> Int64 { monitor.locked { gauges[g] ?? 0 } }

    func publish(files: [FileState]) {
        monitor.locked {
            self.files = files
            heartbeat = monotonicSeconds()
        }
    }

    /// Seconds since the tailer loop last came round: a stuck loop fails the health check.
    var secondsSinceHeartbeat: Double { monitor.locked { monotonicSeconds() - heartbeat } }

    public func render() -> String {
        monitor.locked {
            var out = ""
            for c in Counter.allCases {
                out += "# TYPE \(c.rawValue) counter\n\(c.rawValue) \(counters[c] ?? 0)\n"
            }
            for g in Gauge.allCases {
                out += "# TYPE \(g.rawValue) gauge\n\(g.rawValue) \(gauges[g] ?? 0)\n"
            }
            out += "# HELP kubetrail_agent_file_lag_bytes Bytes in the file not yet acknowledged by the aggregator.\n"
            out += "# TYPE kubetrail_agent_file_lag_bytes gauge\n"
            for f in files { out += "kubetrail_agent_file_lag_bytes{path=\"\(Self.escape(f.path))\"} \(f.lag)\n" }
            out += "# TYPE kubetrail_agent_file_size_bytes gauge\n"
            for f in files { out += "kubetrail_agent_file_size_bytes{path=\"\(Self.escape(f.path))\"} \(f.size)\n" }
            out += "# TYPE kubetrail_agent_file_read_offset_bytes gauge\n"
            for f in files { out += "kubetrail_agent_file_read_offset_bytes{path=\"\(Self.escape(f.path))\"} \(f.read)\n" }
            out += "# TYPE kubetrail_agent_file_acked_offset_bytes gauge\n"
            for f in files { out += "kubetrail_agent_file_acked_offset_bytes{path=\"\(Self.escape(f.path))\"} \(f.acked)\n" }
            return out
        }
    }

    static func escape(_ s: String) -> String {
        s.replacingAll("\\", "\\\\").replacingAll("\"", "\\\"").replacingAll("\n", "\\n")
    }
}
