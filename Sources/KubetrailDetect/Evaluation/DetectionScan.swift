import Foundation
import KubetrailCore
import KubetrailStore
import KubetrailTables

/// All rules over one scan of the audit table, evaluated in Swift: the rows the store hands
/// over are tested by the rules that can match their verb (a `get` is never tested by the 30
/// rules about `create`), and only the rows some rule matches come out, in `DetectionQuery`'s
/// shape and order, so `FindingsReader` reads either.
///
/// Why not the SQL of `DetectionQuery`: the engine evaluates every rule's expression tree per
/// row, with a function call per test, and SQLite reads an interned column through a subquery;
/// the pack took 92 times a full scan that way. The SQL stays what `--server`, `--show-sql`
/// and any Sigma user can read and run; `AuditLab` checks both give the same findings.
public struct DetectionScan {
    public let detections: [Detection]
    /// The columns read, in cell order: the finding's own first (`outputCells`), then the
    /// columns the rules test.
    let columns: [AuditScanColumn]
    /// The rows some rule can match, by the verbs and resources the rules require.
    let selection: AuditScanSelection?
    private let cells: [String: Int]

    /// The finding columns, then `tp_id`, `tp_index`, `tp_timestamp`, as `DetectionQuery` names them.
    static let outputs: [(name: String, column: String)] =
        DetectionQuery.rowColumns.map { ($0.name, $0.sql) }
        + [("kt_row", "tp_id"), ("kt_cluster", "tp_index"), ("kt_time", "tp_timestamp")]

    public init(_ detections: [Detection]) {
        self.detections = detections
        // Columns only findings show are read for the rows that match (`verb` and `resource` pick the rules).
        let tested = Set(detections.flatMap { $0.predicate.fields.map(\.column) } + ["verb", "resource"])
        var columns = Self.outputs.map { AuditScanColumn($0.column, outputOnly: !tested.contains($0.column)) }
        // A JSON document is read only for the verbs of the rules that look into it, when they all require some.
        var documents: [String: Set<String>?] = [:]
        for d in detections {
            let verbs = d.predicate.requiredValues(of: "verb").map(Set.init)
            for field in d.predicate.fields {
                let column = field.column
                if case .json = field {
                    if let known = documents[column] {
                        documents[column] = .some(known.flatMap { k in verbs.map { k.union($0) } })
                    } else {
                        documents[column] = .some(verbs)
                    }
                } else if !columns.contains(where: { $0.name == column }) {
                    columns.append(AuditScanColumn(column))
                }
            }
        }
        for (column, verbs) in documents.sorted(by: { $0.key < $1.key }) where !columns.contains(where: { $0.name == column }) {
            columns.append(AuditScanColumn(column, onlyForVerbs: verbs.map { $0.sorted() }))
        }
        self.columns = columns
        selection = AuditScanSelection(
            detections.map {
                AuditScanSelection.Alternative(verbs: $0.predicate.requiredValues(of: "verb"), resources: $0.predicate.requiredValues(of: "resource"))
            })
        var cells: [String: Int] = [:]
        for (i, c) in columns.enumerated() where cells[c.name] == nil { cells[c.name] = i }
        self.cells = cells
    }

    /// Streams a history scan may read at once (`Store.scanAudit`): one per core, up to four.
    public static let historyStreams = min(4, max(1, ProcessInfo.processInfo.activeProcessorCount))

    /// The findings of rows whose time is in [from, to).
    public func run(
        on store: any Store, from: Timestamp?, to: Timestamp?, limits: QueryLimits = QueryLimits(),
        streams: Int = historyStreams, into sink: some QuerySink
    ) throws {
        try run(on: store, scope: .time(from: from, to: to), limits: limits, streams: streams, into: sink)
    }

    /// The findings of the rows `cluster`'s audit chain committed after entry `seq` up to `last`
    /// (a batch's worth: one stream).
    public func run(on store: any Store, cluster: String, after seq: Int64, through last: Int64, into sink: some QuerySink) throws {
        try run(on: store, scope: .chain(cluster: cluster, after: seq, through: last), limits: QueryLimits(), streams: 1, into: sink)
    }

    private func run(on store: any Store, scope: AuditScanScope, limits: QueryLimits, streams: Int, into sink: some QuerySink) throws {
        // Each stream has its own evaluator (they keep caches) and findings, merged in order after.
        let evaluators = (0..<max(1, streams)).map { _ in Evaluator(self) }
        var matched = Array(repeating: [(time: String, row: String, values: [QueryValue])](), count: evaluators.count)
        let declared = try matched.withUnsafeMutableBufferPointer { found in
            try store.scanAudit(columns, scope: scope, selection: selection, limits: limits, streams: streams) { stream, row in
                let rules = try evaluators[stream].rules(row)
                guard !rules.isEmpty else { return }
                var values = try Self.outputs.indices.map { try row.value($0) }
                values.append(.text(rules.map { "\($0)," }.joined()))
                found[stream].append((Self.text(values[Self.outputs.count - 1]), Self.text(values[Self.outputs.count - 3]), values))
            }
        }
        let all = matched.joined().sorted { ($0.time, $0.row) < ($1.time, $1.row) }
        try sink.begin(
            columns: Self.outputs.indices.map { QueryColumn(name: Self.outputs[$0].name, declaredType: declared[$0].declaredType) }
                + [QueryColumn(name: "kt_rules", declaredType: "TEXT")])
        for m in all { try sink.row(m.values) }
        try sink.end()
    }

    private static func text(_ v: QueryValue) -> String {
        if case .text(let s) = v { return s }
        return ""
    }

    /// The compiled rules of one run (they keep per-run state: folded buffers, memos).
    final class Evaluator {
        let tests: [RowTest]
        /// Each rule's verbs and resources (lower case) when it requires some; nil when any will do.
        let verbs: [Set<[UInt8]>?], resources: [Set<[UInt8]>?]
        let verbCell: Int, resourceCell: Int
        /// The rules that can match a row of a (verb, resource), found on the first such row:
        /// a `get` of a ConfigMap is tested by the few rules that take either, not by all 51.
        /// By a hash of the folded pair, each entry holding the pair it is for.
        private var candidates: [UInt64: [(key: [UInt8], rules: [Int])]] = [:]
        /// The folded pair of the current row: verb, 0, resource (a NULL is 0xFF, which no UTF-8 text has).
        private let key = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 512)

        /// `tests` unretained, for the per-row loop (see `AllOf`).
        private let testRefs: UnsafeMutableBufferPointer<Unmanaged<RowTest>>

        deinit {
            key.deallocate()
            testRefs.deallocate()
        }

        init(_ scan: DetectionScan) {
            tests = scan.detections.map { RowTest.compile($0.predicate.cheapestFirst(), cell: { scan.cells[$0]! }) }
            testRefs = .allocate(capacity: tests.count)
            _ = testRefs.initialize(from: tests.map { Unmanaged.passUnretained($0) })
            func set(_ values: [String]?) -> Set<[UInt8]>? { values.map { Set($0.map { Array($0.utf8) }) } }
            verbs = scan.detections.map { set($0.predicate.requiredValues(of: "verb")) }
            resources = scan.detections.map { set($0.predicate.requiredValues(of: "resource")) }
            verbCell = scan.cells["verb"]!
            resourceCell = scan.cells["resource"]!
        }

        /// The numbers of the rules the row matches, in rule order.
        func rules(_ row: AuditScanRow) throws -> [Int] {
            var found: [Int] = []
            for i in try candidates(row) where try testRefs[i]._withUnsafeGuaranteedRef({ try $0.matches(row) }) { found.append(i) }
            return found
        }

        private func candidates(_ row: AuditScanRow) throws -> [Int] {
            let key = self.key
            var n = try row.withText(verbCell) { Self.fold($0, into: key, at: 0) }
            if n < key.count { key[n] = 0; n += 1 }
            n = try row.withText(resourceCell) { Self.fold($0, into: key, at: n) }
            // A pair too long for the buffer (no API server's) is worked out each time.
            guard n < key.count else {
                return try rules(verb: row.withText(verbCell) { Self.folded($0) }, resource: row.withText(resourceCell) { Self.folded($0) })
            }
            let pair = UnsafeBufferPointer(rebasing: key[0..<n])
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in pair { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            if let entries = candidates[hash] {
                for e in entries where e.key.elementsEqual(pair) { return e.rules }
            }
            let split = pair.firstIndex(of: 0)!
            let rules = rules(verb: Array(pair[..<split]), resource: Array(pair[(split + 1)...]))
            candidates[hash, default: []].append((Array(pair), rules))
            return rules
        }

        private func rules(verb: [UInt8], resource: [UInt8]) -> [Int] {
            tests.indices.filter { i in
                (verbs[i].map { $0.contains(verb) } ?? true) && (resources[i].map { $0.contains(resource) } ?? true)
            }
        }

        /// The text folded into `key` from `at`; the index after it (the buffer's end when it did not fit).
        static func fold(_ text: UnsafeRawBufferPointer?, into key: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
            guard let text else {
                guard start < key.count else { return key.count }
                key[start] = 0xFF
                return start + 1
            }
            guard start + text.count < key.count else { return key.count }
            for (i, b) in text.enumerated() { key[start + i] = b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
            return start + text.count
        }

        static func folded(_ text: UnsafeRawBufferPointer?) -> [UInt8] {
            guard let text else { return [0xFF] }
            return text.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        }
    }
}

extension AuditField {
    var column: String {
        switch self {
        case .text(let c), .integer(let c), .list(let c): return c
        case .json(let c, _): return c
        }
    }
}

extension DetectionPredicate {
    /// Every field the predicate tests.
    var fields: [AuditField] {
        switch self {
        case .match(let f, _): return [f]
        case .not(let p): return p.fields
        case .and(let terms), .or(let terms): return terms.flatMap(\.fields)
        }
    }
}

extension DetectionPredicate {
    /// The values (lower case) `column` must have for this to match, when it requires one of
    /// them: a rule on `verb: [create, update]` needs no test on a `get`. Nil when any value
    /// may match, or when a value has letters beyond ASCII (folded by other rules than bytes).
    func requiredValues(of column: String) -> [String]? {
        switch self {
        case .match(.text(column: let c), .equals(let v)) where c == column:
            return v.utf8.allSatisfy({ $0 < 0x80 }) ? [v.lowercased()] : nil
        case .or(let terms):
            var all: Set<String> = []
            for t in terms {
                guard let v = t.requiredValues(of: column) else { return nil }
                all.formUnion(v)
            }
            return all.isEmpty ? nil : all.sorted()
        case .and(let terms):
            for t in terms { if let v = t.requiredValues(of: column) { return v } }
            return nil
        default: return nil
        }
    }
}
