import Foundation
import Hummingbird
import HummingbirdTesting
import KubetrailCore
import Logging
import ServiceLifecycle
import Testing
import TestSupport
@testable import KubetrailAggregator

/// The aggregator's routes in-process (HummingbirdTesting's router client: no socket, no
/// child process), with the commit writer running behind them.
@Suite struct RouterTests {
    func aggregator(_ f: AggregatorFixture) throws -> Aggregator {
        var config = AggregatorConfiguration(databasePath: f.db, ingestTokenFile: f.dir.path("ingest.tokens"))
        config.queryTokenFile = f.dir.path("query.tokens")
        return try Aggregator(configuration: config, logger: Logger(label: "router-test"))
    }

    @Test func ingestIsAcknowledgedByItsReplyAndTheRowsAreThereToQuery() async throws {
        let f = try AggregatorFixture()
        let aggregator = try aggregator(f)
        aggregator.writer.start()
        defer { aggregator.writer.stop() }
        let encoder = try AggregatorFixture.fixtureBatch()
        let (body, batchID, records) = (try encoder.deflated(), encoder.batchID, encoder.recordCount)
        let app = Application(router: aggregator.buildRouter())
        try await app.test(.router) { client in
            let ingest: HTTPFields = [.authorization: "Bearer \(f.ingestToken)", .contentEncoding: "deflate"]
            try await client.execute(uri: "/v1/ingest", method: .post, headers: ingest, body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .ok)
                let reply = try IngestReply.decode(Array(buffer: response.body))
                #expect(reply.batchID == batchID && reply.records == records && reply.storedAudit == 100 && reply.storedPodLogs == 5 && !reply.duplicate)
            }
            try await client.execute(uri: "/v1/ingest", method: .post, headers: ingest, body: ByteBuffer(bytes: body)) { response in
                let reply = try IngestReply.decode(Array(buffer: response.body))
                #expect(reply.duplicate)
            }
            let query: HTTPFields = [.authorization: "Bearer \(f.queryToken)", .contentType: "application/json"]
            let sql = #"{"sql":"SELECT count(*) AS n FROM kubernetes_audit_logs","format":"csv"}"#
            try await client.execute(uri: "/v1/query", method: .post, headers: query, body: ByteBuffer(string: sql)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "n\n100\n")
            }
        }
    }

    @Test func refusalsHaveTheirStatusAndReason() async throws {
        let f = try AggregatorFixture()
        let aggregator = try aggregator(f)
        aggregator.writer.start()
        defer { aggregator.writer.stop() }
        let body = try AggregatorFixture.fixtureBatch().deflated()
        let app = Application(router: aggregator.buildRouter())
        try await app.test(.router) { client in
            for (token, status) in [("wrong", HTTPResponse.Status.unauthorized), (f.queryToken, .forbidden)] {
                try await client.execute(
                    uri: "/v1/ingest", method: .post, headers: [.authorization: "Bearer \(token)", .contentEncoding: "deflate"], body: ByteBuffer(bytes: body)
                ) { response in
                    #expect(response.status == status)
                    #expect(!String(buffer: response.body).contains(token))  // a token is never echoed
                }
            }
            try await client.execute(uri: "/v1/ingest", method: .get) { response in
                #expect(response.status == .methodNotAllowed && response.headers[.allow] == "POST")
            }
            try await client.execute(
                uri: "/v1/query", method: .post, headers: [.authorization: "Bearer \(f.ingestToken)"], body: ByteBuffer(string: #"{"sql":"SELECT 1"}"#)
            ) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains("ok"))
            }
        }
    }
}

/// The aggregator's long-running parts in its `ServiceGroup`: all started with it, stopped in
/// reverse order when it shuts down.
@Suite struct AggregatorPartTests {
    typealias Recorder = LockedArray<String>

    final class RecordingPart: AggregatorPart, @unchecked Sendable {
        let name: String
        let recorder: Recorder
        init(_ name: String, _ recorder: Recorder) { (self.name, self.recorder) = (name, recorder) }
        func start() { recorder.append("start \(name)") }
        func stop() {
            Thread.sleep(forTimeInterval: 0.05)  // a part that takes a moment to commit what it holds
            recorder.append("stop \(name)")
        }
    }

    @Test func partsStopInReverseOrderAtShutdown() async throws {
        let recorder = Recorder()
        let group = ServiceGroup(
            services: ["writer", "duties", "server"].map { PartService(part: RecordingPart($0, recorder)) }, logger: Logger(label: "parts"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            while recorder.values.count < 3 { try await Task.sleep(for: .milliseconds(10)) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(Set(recorder.values.prefix(3)) == ["start writer", "start duties", "start server"])
        #expect(Array(recorder.values.dropFirst(3)) == ["stop server", "stop duties", "stop writer"])
    }

    /// Readers told to stop together, not one after the other: each is asked before any is
    /// waited for, and they are waited for in reverse order.
    @Test func partsAreAllAskedToStopBeforeAnyIsWaitedFor() {
        final class AskedPart: AggregatorPart, @unchecked Sendable {
            let name: String
            let recorder: Recorder
            init(_ name: String, _ recorder: Recorder) { (self.name, self.recorder) = (name, recorder) }
            func start() {}
            func requestStop() { recorder.append("ask \(name)") }
            func stop() { recorder.append("wait \(name)") }
        }
        let recorder = Recorder()
        stopAll(["digests", "pollers", "audit-logs"].map { AskedPart($0, recorder) })
        #expect(recorder.values == ["ask digests", "ask pollers", "ask audit-logs", "wait audit-logs", "wait pollers", "wait digests"])
    }

    @Test func aThreadPartStopsItsWorkAndWaitsForIt() {
        let recorder = Recorder()
        let stopped = NSCondition()
        nonisolated(unsafe) var told = false
        let part = ThreadPart(
            name: "test-part", timeout: 5,
            run: {
                stopped.withLock { while !told { stopped.wait() } }
                Thread.sleep(forTimeInterval: 0.05)
                recorder.append("finished")
            },
            stop: {
                stopped.withLock {
                    told = true; stopped.broadcast()
                }
            })
        part.start()
        part.stop()
        #expect(recorder.values == ["finished"])
    }
}
