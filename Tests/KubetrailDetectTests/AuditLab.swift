import Foundation
import KubetrailCore
import KubetrailStore
import KubetrailTables
import TestSupport
@testable import KubetrailDetect

/// A store of one backend holding audit events given as JSON, and the findings rules make of it.
final class AuditLab {
    let dir: TemporaryDirectory
    let db: String
    let store: any Store

    init(_ backend: TestBackend) throws {
        dir = try TemporaryDirectory("kubetrail-detect")
        db = try backend.location(in: dir)
        store = try StoreLocation(parsing: db).open(.readWrite)
    }

    /// Stores each event as the audit file ingest would.
    func add(_ events: [AuditEvent]) throws {
        let rows = try events.map { event -> AuditLogRow in
            let bytes = Array(event.json.utf8)
            let parsed = try bytes.withUnsafeBytes { try AuditEventParser.parse($0, context: IngestContext(clusterName: "lab", sourceType: .auditFile)) }
            guard case .event(let row) = parsed else { throw ServerError("not one audit event: \(event.json.prefix(200))") }
            return row
        }
        try store.write { tx in for row in rows { _ = try tx.insert(store.prepare(row)) } }
    }

    /// (rule id, audit id) of every finding, in the order `detect` reports them. Found twice:
    /// by the rules' SQL and by `DetectionScan`, which must agree row for row and value for value.
    func findings(_ detections: [Detection], from: Timestamp? = nil, to: Timestamp? = nil) throws -> [Finding] {
        let bySQL = Collected(), byScan = Collected()
        let sqlSink = FindingsSink(detections, output: bySQL)
        try store.query(DetectionQuery(detections, engine: store.engine).sql(from: from, to: to), into: sqlSink)
        try sqlSink.finish()
        let scanSink = FindingsSink(detections, output: byScan)
        try DetectionScan(detections).run(on: store, from: from, to: to, into: scanSink)
        try scanSink.finish()
        guard bySQL.rows == byScan.rows, bySQL.columns == byScan.columns else {
            throw ServerError(
                """
                the SQL and the scan disagree on \(store.engine):
                  SQL:  \(bySQL.columns.map(\.name)) \(bySQL.rows.map { "\($0[0]) \($0[5])" })
                  scan: \(byScan.columns.map(\.name)) \(byScan.rows.map { "\($0[0]) \($0[5])" })
                """)
        }
        return bySQL.rows.map { Finding(rule: $0[0].text ?? "", auditID: $0[5].text ?? "", row: $0) }
    }

    struct Finding: Equatable {
        var rule: String
        var auditID: String
        var row: [QueryValue]
        static func == (a: Finding, b: Finding) -> Bool { a.rule == b.rule && a.auditID == b.auditID }
    }

    final class Collected: QuerySink {
        var columns: [QueryColumn] = []
        var rows: [[QueryValue]] = []
        func begin(columns: [QueryColumn]) throws { self.columns = columns }
        func row(_ values: [QueryValue]) throws { rows.append(values) }
        func end() throws {}
    }
}

extension QueryValue {
    var text: String? { if case .text(let s) = self { return s } else { return nil } }
}

/// An audit event as JSON, built from a real one (a fixture line) with fields set or removed by
/// dotted path; each gets an auditID of its own so none is a duplicate of another.
struct AuditEvent {
    private(set) var object: [String: Any]
    private(set) var auditID = UUID().uuidString.lowercased()
    /// JSON keys written with their first letter as a `\u` escape, as some encoders may.
    private(set) var escapedKeys: [String] = []

    /// The first event of a fixture file (`audit/falco-trace-files/exec_pod.json`).
    init(fixture: String) throws {
        let line = try Fixtures.text(fixture).split(separator: "\n").first.map(String.init) ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { throw ServerError("\(fixture) is not an event") }
        self.object = object
    }

    func with(_ path: String, _ value: Any?) -> AuditEvent {
        var copy = self
        copy.auditID = UUID().uuidString.lowercased()
        copy.object = Self.set(copy.object, path.split(separator: ".").map(String.init)[...], value)
        return copy
    }

    func without(_ path: String) -> AuditEvent { with(path, nil) }

    private static func set(_ object: [String: Any], _ path: ArraySlice<String>, _ value: Any?) -> [String: Any] {
        var object = object
        guard let key = path.first else { return object }
        if path.count == 1 {
            object[key] = value
        } else {
            object[key] = set(object[key] as? [String: Any] ?? [:], path.dropFirst(), value)
        }
        return object
    }

    var json: String {
        var o = object
        o["auditID"] = auditID
        let data = try! JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
        var text = String(decoding: data, as: UTF8.self)
        for key in escapedKeys {
            let first = key.unicodeScalars.first!.value
            text = text.replacingOccurrences(of: "\"\(key)\":", with: "\"" + String(format: "\\u%04x", first) + key.dropFirst() + "\":")
        }
        return text
    }

    func escapingKey(_ key: String) -> AuditEvent {
        var copy = self
        copy.escapedKeys.append(key)
        return copy
    }
}

extension AuditEvent {
    /// An annotation (its key holds dots, so it is not a path).
    func annotation(_ key: String, _ value: String?) -> AuditEvent {
        var copy = self
        copy.auditID = UUID().uuidString.lowercased()
        var annotations = copy.object["annotations"] as? [String: Any] ?? [:]
        annotations[key] = value
        copy.object["annotations"] = annotations
        return copy
    }
}
