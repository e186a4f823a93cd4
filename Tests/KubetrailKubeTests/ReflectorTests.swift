import Foundation
import Testing
import TestSupport
@testable import KubetrailKube

@Suite struct ReflectorTests {
    @Test func listsWatchesRewatchesAndRelistsAfterGoneAsClientGoDoes() throws {
        let dir = try TemporaryDirectory()
        let server = try FakeAPIServer(dir: dir, cert: nil, key: nil, clientCA: nil)
        defer { server.stop() }
        let client = KubeClient(connection: ClusterConnection(server: "http://127.0.0.1:\(server.port)", namespace: "default", contextName: nil))
        let reflector = Reflector(client: client, path: "/api/v1/namespaces", pageSize: 2)
        var seen: [String] = []
        var listed: [String] = []
        var pages = 0
        func name(_ data: Data) -> String {
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            return (json?["metadata"] as? [String: Any])?["name"] as? String ?? "?"
        }
        #expect(throws: Reflector.Stop.self) {
            try reflector.run(backoff: ReflectorBackoff(initial: 0.05, cap: 0.1)) { event in
                switch event {
                case .listed(let items, let first):
                    if first { listed = [] }
                    listed += items.map(name)
                    pages += 1
                case .synced(let count, let rv):
                    #expect(count == listed.count)
                    seen.append("synced \(listed.joined(separator: ",")) @\(rv)")
                case .idle: break
                case .added(let d):
                    seen.append("added \(name(d))")
                    if name(d) == "ns9" { throw Reflector.Stop.requested }
                case .modified(let d): seen.append("modified \(name(d))")
                case .deleted(let d): seen.append("deleted \(name(d))")
                }
            }
        }
        #expect(
            seen == [
                "synced ns0,ns1,ns2,ns3,ns4 @100", "added ns5", "modified ns1", "deleted ns2",
                "synced ns0,ns1,ns2,ns3,ns4 @100", "added ns9"
            ])
        #expect(pages == 4)  // the first list in pages of 2, the relist at a version in one
        let paths = server.requests.compactMap { $0["path"] as? String }.map {
            $0.replacingOccurrences(of: #"timeoutSeconds=\d+"#, with: "timeoutSeconds=T", options: .regularExpression)
        }
        #expect(
            paths == [
                "/api/v1/namespaces?limit=2&resourceVersion=0",
                "/api/v1/namespaces?continue=c%3A2&limit=2",
                "/api/v1/namespaces?continue=c%3A4&limit=2",
                "/api/v1/namespaces?allowWatchBookmarks=true&resourceVersion=100&timeoutSeconds=T&watch=true",
                "/api/v1/namespaces?allowWatchBookmarks=true&resourceVersion=104&timeoutSeconds=T&watch=true",  // after the bookmark
                "/api/v1/namespaces?resourceVersion=104",  // relist at the last version after ERROR 410 …
                "/api/v1/namespaces",  // … gone too: a consistent relist
                "/api/v1/namespaces?allowWatchBookmarks=true&resourceVersion=100&timeoutSeconds=T&watch=true"
            ])
        let timeouts = server.requests.compactMap { $0["path"] as? String }.compactMap { p -> Int? in
            guard let r = p.range(of: "timeoutSeconds=") else { return nil }
            return Int(p[r.upperBound...].prefix { $0.isNumber })
        }
        #expect(timeouts.allSatisfy { (300..<600).contains($0) })
    }

    @Test func watchErrorsAreReadWhateverTheirMetadataSays() throws {
        for text in [
            #"{"type":"ERROR","object":{"kind":"Status","metadata":null,"code":410,"reason":"Expired"}}"#,
            #"{"type":"ERROR","object":{"kind":"Status","metadata":{},"code":410}}"#
        ] {
            let (type, range) = try #require(try Array(text.utf8).withUnsafeBytes { try APIResponseScanner.watchEvent($0) })
            #expect(type == "ERROR")
            let fields = try Array(text.utf8).withUnsafeBytes { try APIResponseScanner.objectFields(UnsafeRawBufferPointer(rebasing: $0[range])) }
            #expect(fields.code == 410 && fields.resourceVersion == nil)
        }
    }
}
