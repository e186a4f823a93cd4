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
        let sync = TableSync(target: .resources(kind: "Namespace"), store: store,
                             context: IngestContext(clusterName: "test", sourceType: .apiWatch, sourceName: "fake"))
        let client = KubeClient(connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)", namespace: "default", contextName: nil))
        var rowsAfterWatch: [String] = []
        func names() throws -> [String] {
            let out = MemorySink()
            try store.query("SELECT name FROM kubernetes_resources WHERE resource_type = 'Namespace' ORDER BY name", into: out)
            return out.rows.map { $0.first ?? "" }
        }
        #expect(throws: Reflector.Stop.self) {
            try Reflector(client: client, path: "/api/v1/namespaces", pageSize: 2).run(backoff: 0.05) { event in
                try sync.apply(event)
                if case .deleted = event { rowsAfterWatch = try names() }
                if case .added(let d) = event, String(decoding: d, as: UTF8.self).contains("ns9") { throw Reflector.Stop.requested }
            }
        }
        // During the first watch: ns5 added, ns2 deleted.
        #expect(rowsAfterWatch == ["ns0", "ns1", "ns3", "ns4", "ns5"])
        // The relist brought ns2 back and removed ns5, which vanished; ns9 came after.
        #expect(try names() == ["ns0", "ns1", "ns2", "ns3", "ns4", "ns9"])
        #expect(sync.counts.removed == 2)
        #expect(sync.counts.rejected == 0)
    }
}

/// Collects text results of a query.
final class MemorySink: QuerySink {
    var rows: [[String]] = []
    func begin(columns: [QueryColumn]) throws {}
    func row(_ values: [QueryValue]) throws {
        rows.append(values.map { if case .text(let s) = $0 { return s } else { return "\($0)" } })
    }
    func end() throws {}
}
