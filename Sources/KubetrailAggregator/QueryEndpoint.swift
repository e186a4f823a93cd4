import KubetrailCore
import Foundation
import HTTPTypes
import Hummingbird
import KubetrailStore
import KubetrailTables
import Metrics
import NIOCore

extension Aggregator {
    /// `POST /v1/query` with `{"sql": "…", "format": "json|jsonl|csv|rows"}` and a query token.
    /// Runs on a read-only connection with an authorizer, a time limit and a row limit. An error
    /// before the first row is a 400 with the engine's message; a limit reached while streaming
    /// ends the stream with an explicit error line.
    func query(_ request: Request) async throws -> Response {
        try auth.require(.query, request)
        Counter(label: "kubetrail_requests_total", dimensions: [("endpoint", "query")]).increment()
        var body = [UInt8]()
        for try await chunk in request.body {
            guard body.count + chunk.readableBytes <= 1 << 20 else {
                throw APIError(status: .contentTooLarge, reason: "query body over 1 MiB")
            }
            body.append(contentsOf: chunk.readableBytesView)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
            let sql = object["sql"] as? String, !sql.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            throw APIError(status: .badRequest, reason: "expected a JSON object with a non-empty \"sql\" string")
        }
        let format = request.uri.queryParameters["format"].map(String.init) ?? (object["format"] as? String) ?? "json"
        guard ["json", "jsonl", "csv", "rows"].contains(format) else {
            throw APIError(status: .badRequest, reason: "format must be json, jsonl, csv or rows")
        }
        let slot = try admit()
        let started = Date()
        var limits = QueryLimits(maxRows: configuration.queryMaxRows, timeLimit: configuration.queryTimeout)
        limits.maxValueBytes = configuration.queryMaxValueBytes
        // A buffered JSON answer is held whole in memory, once per running query: its own cap,
        // and never more than a quarter of the streamed formats' byte budget.
        let json = format == "json"
        let maxBytes = json ? min(configuration.queryMaxBytes / 4, configuration.queryMaxJSONBytes) : configuration.queryMaxBytes
        let stream = QueryStream.start(
            store: queryStore, sql: sql, format: format, limits: limits, maxBytes: maxBytes,
            tooLargeAdvice: json
                ? "format=json is answered whole; use format=jsonl, csv or rows, which stream, or add a LIMIT"
                : "add a LIMIT or select fewer columns",
            slot: json ? nil : slot)
        let guardian = QueryStreamGuard(stream)
        let contentType = format == "csv" ? "text/csv; charset=utf-8" : json ? "application/json" : "application/x-ndjson"
        // Which engine ran it: a client writing SQL per engine (`kubetrail detect`) asks with `SELECT 1`.
        let engine: HTTPFields = [HTTPField.Name(SQLEngine.header)!: queryStore.engine.rawValue]

        if json {
            // A JSON document cannot carry an error after its end: answer whole or not at all.
            defer { guardian.stream.cancel() }
            var chunks: [ByteBuffer] = []  // kept as they came: no doubling array, no final copy
            while true {
                switch await stream.next() {
                case .chunk(let c): chunks.append(ByteBuffer(bytes: c))
                case .failed(let message): throw APIError(status: .badRequest, reason: message)
                case .finished:
                    Metrics.Timer(label: "kubetrail_query_duration_seconds").recordSeconds(Date().timeIntervalSince(started))
                    // The slot stays taken until the answer is sent (or dropped unsent): the
                    // buffered answer, not the finished query, is what holds memory.
                    let length = chunks.reduce(0) { $0 + $1.readableBytes }
                    let answer = chunks
                    var headers: HTTPFields = [.contentType: contentType]
                    headers.append(contentsOf: engine)
                    return Response(
                        status: .ok, headers: headers,
                        body: ResponseBody(contentLength: length) { writer in
                            defer { slot.release() }
                            for chunk in answer { try await writer.write(chunk) }
                            try await writer.finish(nil)
                        })
                }
            }
        }
        return try await streamed(stream, guardian: guardian, format: format, contentType: contentType, started: started, headers: engine)
    }

    /// A query slot, or 503 at once when `maxConcurrentQueries` are running.
    func admit() throws -> QuerySlots.Slot {
        guard let slot = QuerySlots.of(self).acquire() else {
            Counter(label: "kubetrail_queries_rejected_total", dimensions: [("reason", "busy")]).increment()
            throw APIError(
                status: .serviceUnavailable,
                reason: "\(configuration.maxConcurrentQueries) queries or exports are running; retry later",
                headers: [.retryAfter: "2"])
        }
        return slot
    }

    /// A streamed answer: waits for the first output so an SQL error still gets its status, then
    /// passes chunks on, ending with an explicit error line if the query fails midway. Chunks come
    /// encoded as `encoding` says; the error line is encoded here.
    func streamed(
        _ stream: QueryStream, guardian: QueryStreamGuard, format: String, contentType: String, started: Date,
        headers extra: HTTPFields = [:], metric: String = "kubetrail_query_duration_seconds", encoding: TailEncoding = .identity
    ) async throws -> Response {
        let first = await stream.next()
        if case .failed(let message) = first { throw APIError(status: .badRequest, reason: message) }
        var headers: HTTPFields = [.contentType: contentType]
        headers.append(contentsOf: extra)
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let stream = guardian.stream
                var event = first
                defer { stream.cancel() }
                do {
                    while true {
                        switch event {
                        case .chunk(let c): try await writer.write(ByteBuffer(bytes: c))
                        case .failed(let message):
                            let marker = format == "csv" ? "# error: \(message)\n" : "{\"error\":" + JSONText.string(message) + "}\n"
                            try await writer.write(ByteBuffer(bytes: encoding.encode(Array(marker.utf8))))
                            try await writer.finish(nil)
                            return
                        case .finished:
                            Metrics.Timer(label: metric).recordSeconds(Date().timeIntervalSince(started))
                            try await writer.finish(nil)
                            return
                        }
                        event = await stream.next()
                    }
                } catch {
                    stream.cancel()
                    throw error
                }
            })
    }
}
