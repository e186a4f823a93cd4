import Foundation
import HTTPTypes
import Hummingbird
import KubetrailCore
import KubetrailExport
import KubetrailStore
import KubetrailTables
import Metrics

extension Aggregator {
    static let chainHeader = HTTPField.Name("X-Kubetrail-Chain")!

    /// `GET /v1/export?table=…&from=…&to=…&where=…` with a query token: one table's rows for
    /// `kubetrail export --server`, as the typed `rows` stream, in export order, with no row
    /// limit and `exportTimeout` (the connection is still read-only). The audit chain's position at the start
    /// travels in the `X-Kubetrail-Chain` header for the export's manifest.
    func export(_ request: Request) async throws -> Response {
        try auth.require(.query, request)
        Counter(label: "kubetrail_requests_total", dimensions: [("endpoint", "export")]).increment()
        let q = request.uri.queryParameters
        guard let table = q["table"].map(String.init), KubernetesTables.schema(named: table) != nil else {
            throw APIError(status: .badRequest, reason: "table must be one of \(KubernetesTables.all.map(\.name).joined(separator: ", "))")
        }
        func instant(_ name: String) throws -> Timestamp? {
            guard let text = q[Substring(name)].map(String.init), !text.isEmpty else { return nil }
            guard let t = Timestamp(rfc3339: text) else { throw APIError(status: .badRequest, reason: "\(name) must be an RFC 3339 time, got \(text)") }
            return t
        }
        let condition = q["where"].map(String.init)
        if let condition {
            do { try SQLCondition.check(condition) } catch { throw APIError(status: .badRequest, reason: "where: \(error)") }
        }
        let sql = Exporter.sql(table: table, from: try instant("from"), to: try instant("to"), whereClause: condition)
        var headers: HTTPFields = [:]
        if table == AuditLogRow.schema.name {
            let positions = try Exporter.chainPositions(store)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            headers[Self.chainHeader] = String(decoding: try encoder.encode(positions), as: UTF8.self)
        }
        let slot = try admit()
        // No row limit (an export wants every row), but a time limit of its own, longer than a
        // query's: a `where` with a recursive subquery would otherwise run until the client left.
        var limits = QueryLimits(timeLimit: configuration.exportTimeout)
        limits.maxValueBytes = configuration.queryMaxValueBytes
        let stream = QueryStream.start(store: queryStore, sql: sql, format: "rows", limits: limits, maxBytes: Int.max, slot: slot)
        return try await streamed(
            stream, guardian: QueryStreamGuard(stream), format: "rows", contentType: "application/x-ndjson",
            started: Date(), headers: headers, metric: "kubetrail_export_duration_seconds")
    }
}
