import KubetrailCore
import KubetrailStore

/// Turns the detection query's rows (one per matching audit row, its rules listed) into
/// findings (one per rule and row) for an output sink, counting them by severity.
public final class FindingsSink: QuerySink {
    public static let columns = ["rule_id", "rule_title", "rule_author", "severity", "mitre"] + DetectionQuery.rowColumns.map(\.name)

    private let detections: [Detection]
    private let output: any QuerySink
    private var rowIndexes: [Int] = []
    private var rulesIndex = -1
    private var begun = false
    public private(set) var counts: [Severity: Int] = [:]

    public init(_ detections: [Detection], output: any QuerySink) {
        self.detections = detections
        self.output = output
    }

    public var total: Int { counts.values.reduce(0, +) }

    public func begin(columns: [QueryColumn]) throws {
        let names = columns.map(\.name)
        rowIndexes = try DetectionQuery.rowColumns.map { column in
            guard let i = names.firstIndex(of: column.name) else { throw Malformed(message: "the detection query returned no \(column.name) column") }
            return i
        }
        guard let r = names.firstIndex(of: "kt_rules") else { throw Malformed(message: "the detection query returned no kt_rules column") }
        rulesIndex = r
        if !begun {
            begun = true
            try output.begin(columns: [
                QueryColumn(name: "rule_id", declaredType: "TEXT"), QueryColumn(name: "rule_title", declaredType: "TEXT"),
                QueryColumn(name: "rule_author", declaredType: "TEXT"),
                QueryColumn(name: "severity", declaredType: "TEXT"), QueryColumn(name: "mitre", declaredType: "LIST TEXT"),
            ] + rowIndexes.map { columns[$0] })
        }
    }

    public func row(_ values: [QueryValue]) throws {
        guard case .text(let list) = values[rulesIndex] else { return }
        let audit = rowIndexes.map { values[$0] }
        for number in list.split(separator: ",") {
            guard let i = Int(number), detections.indices.contains(i) else { throw Malformed(message: "the detection query named rule \(number), which it was not given") }
            let d = detections[i]
            counts[d.severity, default: 0] += 1
            try output.row([.text(d.id), .text(d.title), .text(d.author), .text(d.severity.rawValue), .text(JSONText.array(d.mitre))] + audit)
        }
    }

    /// Ends the output; also when no row came (so a table still shows its header).
    public func end() throws {}

    public func finish() throws {
        if !begun {
            begun = true
            try output.begin(columns: Self.columns.map { QueryColumn(name: $0, declaredType: $0 == "mitre" || $0 == "source_ips" ? "LIST TEXT" : "TEXT") })
        }
        try output.end()
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
