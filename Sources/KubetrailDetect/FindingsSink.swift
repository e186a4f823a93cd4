import KubetrailCore
import KubetrailStore

/// One rule matching one audit row, as the detection query reports it.
public struct Finding: Sendable {
    public var detection: Detection
    /// The audit row's values in `DetectionQuery.rowColumns` order.
    public var audit: [QueryValue]
    /// The audit row's `tp_id` and cluster (`tp_index`).
    public var auditRowID: String
    public var cluster: String?

    public func value(_ column: String) -> QueryValue {
        guard let i = DetectionQuery.rowColumns.firstIndex(where: { $0.name == column }) else { return .null }
        return audit[i]
    }
}

/// Reads the detection query's rows (one per matching audit row, its rules listed) as findings,
/// one per rule and row, counting them by severity.
public final class FindingsReader: QuerySink {
    private let detections: [Detection]
    private let each: (Finding) throws -> Void
    private var rowIndexes: [Int] = []
    private var rulesIndex = -1, rowIDIndex = -1, clusterIndex = -1
    public private(set) var columns: [QueryColumn] = []
    public private(set) var counts: [Severity: Int] = [:]

    public init(_ detections: [Detection], each: @escaping (Finding) throws -> Void) {
        self.detections = detections
        self.each = each
    }

    public var total: Int { counts.values.reduce(0, +) }

    public func begin(columns: [QueryColumn]) throws {
        let names = columns.map(\.name)
        func index(_ name: String) throws -> Int {
            guard let i = names.firstIndex(of: name) else { throw Malformed(message: "the detection query returned no \(name) column") }
            return i
        }
        rowIndexes = try DetectionQuery.rowColumns.map { try index($0.name) }
        rulesIndex = try index("kt_rules")
        rowIDIndex = try index("kt_row")
        clusterIndex = try index("kt_cluster")
        self.columns = rowIndexes.map { columns[$0] }
    }

    public func row(_ values: [QueryValue]) throws {
        guard case .text(let list) = values[rulesIndex] else { return }
        let audit = rowIndexes.map { values[$0] }
        guard case .text(let rowID) = values[rowIDIndex] else { throw Malformed(message: "the detection query returned a row without its tp_id") }
        let cluster: String? = if case .text(let c) = values[clusterIndex] { c } else { nil }
        // In rule order, however the query grouped them.
        let numbers = try list.split(separator: ",").map { number -> Int in
            guard let i = Int(number), detections.indices.contains(i) else {
                throw Malformed(message: "the detection query named rule \(number), which it was not given")
            }
            return i
        }.sorted()
        for i in numbers {
            counts[detections[i].severity, default: 0] += 1
            try each(Finding(detection: detections[i], audit: audit, auditRowID: rowID, cluster: cluster))
        }
    }

    public func end() throws {}

    public struct Malformed: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}

/// Findings as rows of an output sink (`kubetrail detect`): the rule, then the audit row.
public final class FindingsSink: QuerySink {
    public static let columns = ["rule_id", "rule_title", "rule_author", "severity", "mitre"] + DetectionQuery.rowColumns.map(\.name)

    private let output: any QuerySink
    private var reader: FindingsReader!
    private var begun = false

    public init(_ detections: [Detection], output: any QuerySink) {
        self.output = output
        reader = FindingsReader(detections) { [unowned self] f in
            try self.output.row(
                [
                    .text(f.detection.id), .text(f.detection.title), .text(f.detection.author), .text(f.detection.severity.rawValue),
                    .text(JSONText.array(f.detection.mitre))
                ] + f.audit)
        }
    }

    public var counts: [Severity: Int] { reader.counts }
    public var total: Int { reader.total }

    public func begin(columns: [QueryColumn]) throws {
        try reader.begin(columns: columns)
        if !begun {
            begun = true
            try output.begin(columns: Self.ruleColumns + reader.columns)
        }
    }

    public func row(_ values: [QueryValue]) throws { try reader.row(values) }

    public func end() throws {}

    /// Ends the output; also when no row came (so a table still shows its header).
    public func finish() throws {
        if !begun {
            begun = true
            try output.begin(
                columns: Self.ruleColumns
                    + DetectionQuery.rowColumns.map {
                        QueryColumn(name: $0.name, declaredType: $0.name == "source_ips" ? "LIST TEXT" : "TEXT")
                    })
        }
        try output.end()
    }

    static let ruleColumns = [
        QueryColumn(name: "rule_id", declaredType: "TEXT"), QueryColumn(name: "rule_title", declaredType: "TEXT"),
        QueryColumn(name: "rule_author", declaredType: "TEXT"), QueryColumn(name: "severity", declaredType: "TEXT"),
        QueryColumn(name: "mitre", declaredType: "LIST TEXT")
    ]
}
