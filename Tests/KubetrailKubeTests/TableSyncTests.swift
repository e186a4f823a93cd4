import Foundation
import Testing
import TestSupport
import KubetrailCollect
import KubetrailStore
import KubetrailTables
@testable import KubetrailKube

@Suite struct TableSyncTests {
    @Test func watchedResourcesStayCurrentThroughDeletesAndRelists() throws {
        let dir = try TemporaryDirectory()
        let server = try FakeAPIServer(dir: dir, cert: nil, key: nil, clientCA: nil)
        defer { server.stop() }
        let store = try SQLiteStore(path: dir.path("kt.db"))
        let sync = TableSync(
            target: .resources(kind: "Namespace"), store: store,
            context: IngestContext(clusterName: "test", sourceType: .apiWatch, sourceName: "fake"))
        let client = KubeClient(connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)", namespace: "default", contextName: nil))
        var rowsAfterWatch: [String] = []
        func names() throws -> [String] {
            let out = MemorySink()
            try store.query("SELECT name FROM kubernetes_resources WHERE resource_type = 'Namespace' ORDER BY name", into: out)
            return out.rows.map { $0.first ?? "" }
        }
        #expect(throws: Reflector.Stop.self) {
            try Reflector(client: client, path: "/api/v1/namespaces", pageSize: 2).run(backoff: ReflectorBackoff(initial: 0.05, cap: 0.1)) { event in
                try sync.apply(event)
                if case .deleted = event {
                    #expect(try names().contains("ns2"), "held until the batch is committed")
                    try sync.flush()
                    rowsAfterWatch = try names()
                }
                if case .added(let d) = event, String(decoding: d, as: UTF8.self).contains("ns9") { throw Reflector.Stop.requested }
            }
        }
        try sync.flush()  // what the stopped watch held (ClusterPollers does this when a poller stops)
        // During the first watch: ns5 added, ns2 deleted.
        #expect(rowsAfterWatch == ["ns0", "ns1", "ns3", "ns4", "ns5"])
        // The relist brought ns2 back and removed ns5, which vanished; ns9 came after.
        #expect(try names() == ["ns0", "ns1", "ns2", "ns3", "ns4", "ns9"])
        #expect(sync.counts.removed == 2)
        #expect(sync.counts.rejected == 0)
    }
}

extension TableSyncTests {
    @Test func aRelistOfSomeNamespacesLeavesTheOthersRowsAlone() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path("kt.db"))
        let context = IngestContext(clusterName: "c", sourceType: .apiWatch)
        func pod(_ ns: String, _ name: String) -> Data {
            Data(#"{"kind":"Pod","apiVersion":"v1","metadata":{"namespace":"\#(ns)","name":"\#(name)","uid":"uid-\#(name)"}}"#.utf8)
        }
        func names() throws -> [String] {
            let out = MemorySink()
            try store.query("SELECT name FROM kubernetes_resources ORDER BY name", into: out)
            return out.rows.map { $0[0] }
        }
        let everything = TableSync(target: .resources(kind: "Pod"), store: store, context: context)
        try everything.apply(.listed([pod("shop", "web"), pod("shop", "api"), pod("other", "batch")], first: true))
        try everything.apply(.synced(count: 3, resourceVersion: "1"))
        // A collection of shop only, where api is gone and a pod's content is rejected: batch
        // (another namespace) and the rejected one (it still exists) keep their rows.
        let shop = TableSync(target: .resources(kind: "Pod"), store: store, context: context, namespaces: ["shop"])
        let badWeb = Data(#"{"kind":"Pod","metadata":{"namespace":"shop","name":"web","uid":"uid-web","creationTimestamp":"yesterday"}}"#.utf8)
        try shop.apply(.listed([badWeb], first: true))
        try shop.apply(.synced(count: 1, resourceVersion: "2"))
        #expect(try names() == ["batch", "web"])
        #expect(shop.counts.removed == 1 && shop.counts.rejected == 1)
    }
}

/// Collects text results of a query.
final class MemorySink: QuerySink {
    var rows: [[String]] = []
    func begin(columns: [QueryColumn]) throws {}
    func row(_ values: [QueryValue]) throws {
        rows.append(
            values.map {
                switch $0 {
                case .text(let s): return s
                case .int(let v): return String(v)
                case .real(let v): return String(v)
                case .null: return "NULL"
                case .blob: return "BLOB"
                }
            })
    }
    func end() throws {}
}

@Suite struct NamespaceFilterTests {
    @Test func onlyTheConfiguredNamespacesAreStoredAndClusterScopedObjectsAlways() throws {
        let dir = try TemporaryDirectory()
        let server = try FakeAPIServer(dir: dir, cert: nil, key: nil, clientCA: nil)
        defer { server.stop() }
        let store = try SQLiteStore(path: dir.path("kt.db"))
        let client = KubeClient(connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)", namespace: "default", contextName: nil))
        let context = IngestContext(clusterName: "test", sourceType: .apiWatch, sourceName: "fake")
        for (target, path) in [
            (TableSync.Target.events, "/api/v1/events"), (.resources(kind: "Pod"), "/api/v1/pods"),
            (.resources(kind: "Namespace"), "/api/v1/namespaces")
        ] {
            let sync = TableSync(target: target, store: store, context: context, namespaces: ["kube-system", "default"])
            let (count, rv) = try Reflector(client: client, path: path).listAll(resourceVersion: "0") { try sync.apply(.listed($0, first: true)) }
            try sync.apply(.synced(count: count, resourceVersion: rv))
            if target == .events || target == .resources(kind: "Pod") { #expect(sync.counts.filtered == count && sync.counts.stored == 0) }
        }
        let out = MemorySink()
        try store.query(
            "SELECT (SELECT count(*) FROM kubernetes_events), (SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Pod'), (SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Namespace')",
            into: out)
        #expect(out.rows.first == ["0", "0", "5"])  // shop's event and pod are filtered; namespaces are cluster-scoped
    }
}

@Suite struct SecretsTests {
    @Test func secretsAreListedAsMetadataOnlySoTheirValuesNeverArrive() throws {
        let dir = try TemporaryDirectory()
        let server = try FakeAPIServer(dir: dir, cert: nil, key: nil, clientCA: nil, allowSecrets: true)
        defer { server.stop() }
        let store = try SQLiteStore(path: dir.path("kt.db"))
        let client = KubeClient(connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)", namespace: "default", contextName: nil))
        let pollers = ClusterPollers(
            client: client, store: store, context: IngestContext(clusterName: "t", sourceType: .apiWatch),
            collections: [.init(target: .resources(kind: "Secret"), path: "/api/v1/secrets")])
        pollers.start()
        defer { pollers.stop() }
        let until = Date().addingTimeInterval(10)
        while Date() < until && pollers.status["/api/v1/secrets"] != .synced(items: 1) { Thread.sleep(forTimeInterval: 0.05) }
        #expect(pollers.status["/api/v1/secrets"] == .synced(items: 1))
        let list = try #require(server.requests.first { ($0["path"] as? String)?.hasPrefix("/api/v1/secrets?") == true })
        #expect((list["accept"] as? String)?.hasPrefix("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1") == true)
        let out = MemorySink()
        try store.query("SELECT resource_type, name, namespace FROM kubernetes_resources", into: out)
        #expect(out.rows == [["Secret", "db-password", "shop"]])
        // The value the fake would have sent to a plain list is nowhere in the database file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.path("kt.db")))
        #expect(bytes.range(of: Data("c2VjcmV0LXZhbHVlLTQy".utf8)) == nil)
    }
}

@Suite struct ClusterPollersTests {
    @Test func eventsAndResourcesArriveWhileAForbiddenKindIsReportedAlone() throws {
        let dir = try TemporaryDirectory()
        let server = try FakeAPIServer(dir: dir, cert: nil, key: nil, clientCA: nil)
        defer { server.stop() }
        let store = try SQLiteStore(path: dir.path("kt.db"))
        let client = KubeClient(connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)", namespace: "default", contextName: nil))
        let logged = LogLines()
        let pollers = ClusterPollers(
            client: client, store: store,
            context: IngestContext(clusterName: "test", sourceType: .apiWatch, sourceName: "fake"),
            log: { logged.add($0) })
        pollers.start()
        defer { pollers.stop() }
        let deadline = Date().addingTimeInterval(20)
        func count(_ sql: String) throws -> Int {
            let out = MemorySink()
            try store.query(sql, into: out)
            return Int(out.rows.first?.first ?? "") ?? -1
        }
        while Date() < deadline {
            if pollers.status.values.allSatisfy({ if case .starting = $0 { return false } else { return true } }) { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(pollers.status["/api/v1/secrets"].map { if case .forbidden = $0 { return true } else { return false } } == true)
        #expect(pollers.status["/api/v1/pods"] == .synced(items: 1))
        #expect(pollers.status["/apis/apps/v1/deployments"] == .synced(items: 0))
        #expect(try count("SELECT count(*) FROM kubernetes_events WHERE reason = 'BackOff'") == 2)
        #expect(try count("SELECT count(*) FROM kubernetes_resources WHERE resource_type = 'Pod' AND name = 'web'") == 1)
        #expect(logged.text.contains("forbidden: /api/v1/secrets"))
        // A kind the API server does not serve: skipped with a note, not retried every 2 s.
        #expect(pollers.status["/apis/networking.k8s.io/v1/ingresses"] == .notServed)
        #expect(logged.text.contains("not served: this API server has no /apis/networking.k8s.io/v1/ingresses (404)"), "\(logged.text)")
        #expect(server.requests.filter { ($0["path"] as? String)?.hasPrefix("/apis/networking.k8s.io/v1/ingresses") == true }.count == 1)
    }
}

final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ s: String) { lock.withLock { lines.append(s) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}
