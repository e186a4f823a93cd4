import Foundation
import HTTPTypes
import Hummingbird
import KubetrailCore
import KubetrailStore
import KubetrailTables
import Metrics

extension Aggregator {
    /// `GET /v1/tail?table=…&where=…&since=…&cursor=…` with a query token: one table's rows
    /// from `since` (RFC 3339 or a duration back from now, like 10m), then its changes as they
    /// commit — or the changes after `cursor` — as the typed `rows` stream, with a
    /// `{"cursor":"…"}` line after each page that a client sends back to resume with no gap and
    /// no repeat. Blank lines keep an idle follow alive. A client listing zstd in `Accept-Encoding`
    /// gets the stream as zstd frames, each page compressed once for all its followers. A cursor that can no longer be resumed
    /// (pruned, or from another store) is 410: start again with `since`.
    func tail(_ request: Request) async throws -> Response {
        try auth.require(.query, request)
        Counter(label: "kubetrail_requests_total", dimensions: [("endpoint", "tail")]).increment()
        let q = request.uri.queryParameters
        let tailRequest = try Self.tailRequest({ q[Substring($0)].map(String.init) }, now: .now)
        var limits = QueryLimits(timeLimit: configuration.exportTimeout)
        limits.maxValueBytes = configuration.queryMaxValueBytes
        var first = tailRequest
        first.limits = limits
        guard let slot = followerSlots.acquire() else {
            Counter(label: "kubetrail_queries_rejected_total", dimensions: [("reason", "followers")]).increment()
            throw APIError(
                status: .serviceUnavailable, reason: "\(configuration.maxFollowers) followers are connected; retry later", headers: [.retryAfter: "2"])
        }
        // A bad cursor or filter is answered with its status before the stream starts: one
        // page that reads nothing (or at most one change, discarded) checks both.
        try await Self.probe(queryStore, first)
        first.checkCondition = false
        let encoding = TailEncoding.negotiate(request.headers[.acceptEncoding])
        let stream = TailFollower.start(
            store: queryStore, first: first, commits: commits, pages: tailPages,
            timing: .init(poll: configuration.followerPollInterval, stall: configuration.followerStallTimeout), encoding: encoding, slot: slot)
        var headers: HTTPFields = [.vary: "Accept-Encoding"]
        if let name = encoding.header { headers[.contentEncoding] = name }
        return try await streamed(
            stream, guardian: QueryStreamGuard(stream), format: "rows", contentType: "application/x-ndjson", started: Date(), headers: headers,
            metric: "kubetrail_tail_duration_seconds", encoding: encoding)
    }

    /// The request a follow's query parameters describe (`parameter` gives one by name).
    static func tailRequest(_ parameter: (String) -> String?, now: Timestamp) throws -> TailRequest {
        guard let name = parameter("table"), let table = ChangeJournal.tables.first(where: { $0.name == name }) else {
            throw APIError(status: .badRequest, reason: "table must be one of \(ChangeJournal.tables.map(\.name).joined(separator: ", "))")
        }
        let condition = parameter("where").flatMap { $0.isEmpty ? nil : $0 }
        if let condition {
            do { try SQLCondition.check(condition) } catch { throw APIError(status: .badRequest, reason: "where: \(error)") }
        }
        let since = parameter("since").flatMap { $0.isEmpty ? nil : $0 }
        let cursor = parameter("cursor").flatMap { $0.isEmpty ? nil : $0 }
        let start: TailRequest.Start
        switch (since, cursor) {
        case (.some, .some): throw APIError(status: .badRequest, reason: "give since or cursor, not both")
        case (_, .some(let text)):
            guard let c = TailCursor(text) else { throw APIError(status: .badRequest, reason: "cursor is not one this server gave: \(text)") }
            start = .after(c)
        case (.some(let text), nil):
            guard let t = SinceText.instant(text, now: now) else {
                throw APIError(status: .badRequest, reason: "since must be an RFC 3339 time or a duration like 10m, got \(text)")
            }
            start = .since(t)
        case (nil, nil): start = .since(nil)
        }
        return TailRequest(table: table, condition: condition, start: start)
    }

    /// Runs a first page that reads nothing new, off Swift's shared threads: its errors as statuses.
    static func probe(_ store: any Store, _ request: TailRequest) async throws {
        var request = request
        request.maxEntries = 1
        if case .since = request.start { request.start = .since(nil) }
        let probe = request
        final class Discard: QuerySink {
            func begin(columns: [QueryColumn]) {}
            func row(_ values: [QueryValue]) {}
            func end() {}
        }
        let failure: Error? = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    _ = try store.tail(probe, into: Discard())
                    continuation.resume(returning: nil)
                } catch { continuation.resume(returning: error) }
            }
        }
        switch failure {
        case nil: return
        case let e as TailError:
            if case .notFollowable = e { throw APIError(status: .badRequest, reason: e.description) }
            if case .noJournal = e { throw APIError(status: .serviceUnavailable, reason: e.description) }
            throw APIError(status: .gone, reason: e.description)
        case StoreError.unavailable(_, let message)?:
            throw APIError(status: .serviceUnavailable, reason: message, headers: [.retryAfter: "2"])
        case let e?:
            throw APIError(status: .badRequest, reason: "\(e)")
        }
    }
}
