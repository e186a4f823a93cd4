import Foundation
import KubetrailCore
import Testing
@testable import KubetrailKube

/// The reflector's list/watch protocol in-process, against a scripted API server
/// (`ListWatchClient`) and a recording clock: which requests it makes, in what order, what it
/// hands on, and when it waits.
@Suite struct ReflectorProtocolTests {
    /// Answers each request with the next scripted reply for its kind; records every path asked.
    final class ScriptedAPIServer: ListWatchClient, @unchecked Sendable {
        enum Watch { case lines([String], status: Int) }
        private let lock = NSLock()
        private var lists: [(status: Int, body: String)]
        private var watches: [Watch]
        private(set) var requests: [String] = []

        init(lists: [(Int, String)], watches: [Watch]) {
            self.lists = lists.map { (status: $0.0, body: $0.1) }
            self.watches = watches
        }

        var paths: [String] { lock.withLock { requests } }

        func list(_ path: String, accept: String) throws -> KubeClient.Response {
            let reply = lock.withLock {
                requests.append("LIST " + path)
                return lists.isEmpty ? (status: 500, body: "script ended") : lists.removeFirst()
            }
            return KubeClient.Response(status: reply.status, body: Array(reply.body.utf8))
        }

        func watch(_ path: String, accept: String, tick: () -> Bool, onLine: (UnsafeRawBufferPointer) -> Bool) throws -> Int {
            let next: Watch = lock.withLock {
                requests.append("WATCH " + path)
                return watches.isEmpty ? .lines([], status: 500) : watches.removeFirst()
            }
            guard case .lines(let lines, let status) = next else { return 500 }
            for line in lines {
                var bytes = Array(line.utf8)
                guard bytes.withUnsafeMutableBytes({ onLine(UnsafeRawBufferPointer($0)) }), tick() else { break }
            }
            return status
        }
    }

    static func list(_ names: [String], rv: String, next: String? = nil) -> String {
        let items = names.map { #"{"metadata":{"name":"\#($0)","resourceVersion":"\#(rv)"}}"# }.joined(separator: ",")
        let more = next.map { #","continue":"\#($0)""# } ?? ""
        return #"{"kind":"NamespaceList","metadata":{"resourceVersion":"\#(rv)"\#(more)},"items":[\#(items)]}"#
    }

    static func event(_ type: String, _ name: String, rv: String) -> String {
        #"{"type":"\#(type)","object":{"metadata":{"name":"\#(name)","resourceVersion":"\#(rv)"}}}"#
    }

    static let gone = #"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}"#

    /// A readable trace of what the reflector handed on.
    static func describe(_ event: Reflector.Event) -> String? {
        func name(_ d: Data) -> String {
            ((try? JSONSerialization.jsonObject(with: d)) as? [String: Any]).flatMap { ($0["metadata"] as? [String: Any])?["name"] as? String } ?? "?"
        }
        switch event {
        case .listed(let items, let first): return "listed\(first ? "*" : "") " + items.map(name).joined(separator: ",")
        case .synced(let count, let rv): return "synced \(count)@\(rv)"
        case .added(let d): return "added " + name(d)
        case .modified(let d): return "modified " + name(d)
        case .deleted(let d): return "deleted " + name(d)
        case .idle: return nil
        }
    }

    @Test func pagesThenWatchesFromTheListsVersionAndRelistsWhenItIsGone() throws {
        let server = ScriptedAPIServer(
            lists: [
                (200, Self.list(["a", "b"], rv: "100", next: "c1")), (200, Self.list(["c"], rv: "101")),
                (410, #"{"kind":"Status","code":410,"message":"too old"}"#),  // the relist at the last version is gone too
                (200, Self.list(["x"], rv: "200"))
            ],
            watches: [
                .lines([Self.event("ADDED", "d", rv: "102"), Self.event("MODIFIED", "a", rv: "103"), Self.event("BOOKMARK", "", rv: "105")], status: 200),
                .lines([Self.event("DELETED", "b", rv: "106"), Self.gone], status: 200)
            ])
        let clock = RecordingClock(stopAfter: 1)
        let reflector = Reflector(client: server, path: "/api/v1/namespaces", pageSize: 2, clock: clock)
        var seen: [String] = []
        #expect(throws: Reflector.Stop.requested) {
            try reflector.run { event in
                if let text = Self.describe(event) { seen.append(text) }
                if case .synced(_, "200") = event { throw Reflector.Stop.requested }
            }
        }
        #expect(
            seen == [
                "listed* a,b", "listed c", "synced 3@101", "added d", "modified a", "deleted b", "listed* x", "synced 1@200"
            ])
        let paths = server.paths.map { $0.replacingOccurrences(of: #"timeoutSeconds=\d+"#, with: "timeoutSeconds=T", options: .regularExpression) }
        #expect(
            paths == [
                "LIST /api/v1/namespaces?limit=2&resourceVersion=0",
                "LIST /api/v1/namespaces?continue=c1&limit=2",
                "WATCH /api/v1/namespaces?allowWatchBookmarks=true&resourceVersion=101&timeoutSeconds=T&watch=true",
                // The stream ended after events: watched again at once from the bookmark's version.
                "WATCH /api/v1/namespaces?allowWatchBookmarks=true&resourceVersion=105&timeoutSeconds=T&watch=true",
                "LIST /api/v1/namespaces?resourceVersion=106",
                "LIST /api/v1/namespaces"
            ])
        #expect(clock.waits.isEmpty)
        #expect(reflector.lastResourceVersion == "200")
    }

    @Test func serverErrorsAndAnEmptyWatchWaitButRefusalsEndTheRun() throws {
        let server = ScriptedAPIServer(
            lists: [(503, "busy"), (200, Self.list(["a"], rv: "7"))],
            watches: [.lines([], status: 200), .lines([#"{"kind":"Status","code":403}"#], status: 403)])
        let clock = RecordingClock(stopAfter: 10)
        let reflector = Reflector(client: server, path: "/api/v1/secrets", clock: clock)
        do {
            try reflector.run { _ in }
            Issue.record("a 403 did not end the run")
        } catch let failure as APIFailure {
            #expect(failure.status == 403)
        }
        // One wait after the 503, one after the watch that ended at once with nothing in it.
        #expect(clock.waits.count == 2)
        #expect(server.paths.filter { $0.hasPrefix("LIST") }.count == 2 && server.paths.filter { $0.hasPrefix("WATCH") }.count == 2)
    }
}
