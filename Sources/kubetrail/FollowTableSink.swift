import KubetrailStore
import KubetrailTables

/// `kubetrail tail -o table`: one line per row with the columns that say what happened, in
/// fixed widths (as `kubectl get -w` prints), since a follow cannot size columns to rows it
/// has not seen yet. `-o jsonl` and `csv` carry every column.
final class FollowTableSink: QuerySink {
    let out: TextOutput
    let wanted: [(name: String, width: Int)]
    private var indices: [Int?] = []

    init(_ out: TextOutput, table: TableSchema) {
        self.out = out
        wanted = Self.columns[table.name] ?? table.columns.prefix(6).map { ($0.name, 24) }
    }

    static let columns: [String: [(name: String, width: Int)]] = [
        AuditLogRow.schema.name: [
            ("stage_timestamp", 27), ("user_name", 32), ("verb", 8), ("resource", 20), ("namespace", 16), ("name", 32), ("response_code", 4)
        ],
        EventRow.schema.name: [
            ("last_timestamp", 27), ("namespace", 16), ("event_type", 8), ("reason", 20), ("object_kind", 12), ("object_name", 32), ("message", 0)
        ],
        ResourceRow.schema.name: [
            ("observed_at", 27), ("resource_type", 14), ("namespace", 16), ("name", 40), ("phase", 10), ("resource_version", 0)
        ],
        PodLogRow.schema.name: [
            ("timestamp", 27), ("namespace", 16), ("pod_name", 32), ("container_name", 16), ("log_level", 6), ("log_message", 0)
        ]
    ]

    /// Headers shorter than their column's name.
    static let headers = ["response_code": "CODE", "stage_timestamp": "TIME", "last_timestamp": "TIME", "observed_at": "TIME", "timestamp": "TIME"]

    func begin(columns: [QueryColumn]) throws {
        indices = wanted.map { w in columns.firstIndex { $0.name == w.name } }
        out.write(line(wanted.map { Self.headers[$0.name] ?? $0.name.uppercased() }))
    }

    func row(_ values: [QueryValue]) throws {
        out.write(line(indices.map { i in i.map { values[$0].plainText } ?? "" }))
    }

    func end() throws {}

    /// Cells padded to their width (the last one as long as it is), newlines shown as spaces.
    private func line(_ cells: [String]) -> String {
        var s = ""
        for (i, cell) in cells.enumerated() {
            var text = cell.replacingOccurrences(of: "\n", with: " ")
            let width = wanted[i].width
            if width > 0 {
                if text.count > width { text = String(text.prefix(width - 1)) + "…" }
                text += String(repeating: " ", count: width - text.count)
                s += text + " "
            } else {
                s += text
            }
        }
        while s.last == " " { s.removeLast() }
        return s + "\n"
    }
}
