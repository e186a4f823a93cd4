import KubetrailParquet
import KubetrailStore

/// The file formats an export writes.
public enum ExportFormat: String, Sendable, CaseIterable {
    case csv, jsonl, parquet

    var fileExtension: String { rawValue }

    /// The text formats' row writer (Parquet has its own sink).
    var textFormat: OutputFormat? {
        switch self {
        case .csv: return .csv
        case .jsonl: return .jsonl
        case .parquet: return nil
        }
    }
}

/// Where a Parquet export puts its files: one directory, or Tailpipe's hive partitions
/// (`tp_table=…/tp_partition=…/tp_index=…/tp_date=…/`), which DuckDB reads with
/// `hive_partitioning`.
public enum ExportLayout: String, Sendable, CaseIterable {
    case flat, tailpipe
}
