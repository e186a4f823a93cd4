import Foundation
import Testing
import TestSupport
import KubetrailCore
@testable import KubetrailTables

/// The pollers' byte-level reader must produce the same rows as the Foundation reader used by
/// imports, on every object of the API fixtures; JSON columns may differ only in formatting.
@Suite struct ScannedKubeObjectTests {
    /// Each object of a fixture document as its own bytes, with the kind and apiVersion a list
    /// implies for its items.
    static func rawObjects(_ data: [UInt8]) -> [(bytes: [UInt8], kind: String?, apiVersion: String?)] {
        data.withUnsafeBytes { raw in
            var s = JSONScanner(raw)
            var items: [Range<Int>] = []
            var listKind: String?, listVersion: String?, watched: Range<Int>?
            guard (try? s.enterObject()) != nil else { return [] }
            var first = true
            while let key = try? s.nextKey(&first) {
                if s.token(key, equals: "items"), (try? s.enterArray()) != nil {
                    var f = true
                    while (try? s.nextElement(&f)) == true, let r = try? s.skipValue() { items.append(r) }
                } else if s.token(key, equals: "kind") {
                    listKind = try? s.readString()
                } else if s.token(key, equals: "apiVersion") {
                    listVersion = try? s.readString()
                } else if s.token(key, equals: "object") {
                    watched = try? s.skipValue()
                } else {
                    _ = try? s.skipValue()
                }
            }
            if let watched { return [(Array(raw[watched]), nil, nil)] }
            guard !items.isEmpty else { return [(Array(raw), nil, nil)] }
            let itemKind = listKind.flatMap { $0.hasSuffix("List") ? String($0.dropLast(4)) : nil }
            return items.map { (Array(raw[$0]), itemKind, listVersion) }
        }
    }

    static func canonical(_ text: String) -> String? {
        guard let v = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]),
            let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed])
        else { return nil }
        return String(decoding: d, as: UTF8.self)
    }

    static func same(_ a: [ColumnValue], _ b: [ColumnValue]) -> [String] {
        zip(a.indices, zip(a, b)).compactMap { i, pair in
            if pair.0 == pair.1 { return nil }
            if case .text(let x) = pair.0, case .text(let y) = pair.1, let cx = canonical(x), cx == canonical(y) { return nil }
            return "column \(i): \(pair.0) vs \(pair.1)"
        }
    }

    @Test func rowsMatchTheFoundationReaderOnEveryAPIFixture() throws {
        let context = IngestContext(clusterName: "c", sourceType: .apiWatch, ingestTimestamp: Timestamp(seconds: 1_800_000_000))
        var compared = 0, events = 0
        for file in Fixtures.files(under: "k8s-api", withExtension: "json") {
            for (bytes, kind, version) in Self.rawObjects(Array(try Fixtures.data(file))) {
                var json = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], "\(file)")
                if json["kind"] == nil, let kind { json["kind"] = kind }
                if json["apiVersion"] == nil, let version { json["apiVersion"] = version }
                let foundation = KubeObject(json)
                let scanned = try ScannedKubeObject(bytes)
                if scanned.kind == nil { scanned.kindOverride = kind }
                scanned.apiVersionOverride = version
                /// Both readers through one normalizer: the same rows, or the same rejection.
                func compare<R: TableRow>(_ normalize: (any KubeFields) throws(Rejection) -> R) {
                    let a = Result { () throws(Rejection) in try normalize(foundation) }
                    let b = Result { () throws(Rejection) in try normalize(scanned) }
                    switch (a, b) {
                    case (.success(let x), .success(let y)): #expect(Self.same(x.values, y.values).isEmpty, "\(file): \(Self.same(x.values, y.values))")
                    case (.failure(let x), .failure(let y)): #expect(x == y)
                    default: Issue.record("\(file): \(a) vs \(b)")
                    }
                }
                if foundation.kind == "Event" {
                    compare { (o) throws(Rejection) in try EventNormalizer.row(o, context: context) }
                    events += 1
                } else {
                    compare { (o) throws(Rejection) in try ResourceNormalizer.row(o, context: context) }
                }
                compared += 1
            }
        }
        #expect(compared > 40 && events > 10, "\(compared) objects, \(events) events")
    }

    @Test func secretsAndConfigMapsKeepKeysAndDropLastAppliedInBothReaders() throws {
        let text =
            #"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","uid":"s1","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"c2VjcmV0\"}}","team":"pay\u00e9"}},"data":{"password":"c2VjcmV0","user":"YWRtaW4="},"stringData":{"token":"t0k"}}"#
        let context = IngestContext(sourceType: .apiWatch, ingestTimestamp: Timestamp(seconds: 1))
        let scanned = try ResourceNormalizer.row(try ScannedKubeObject(Array(text.utf8)), context: context)
        let foundation = try ResourceNormalizer.row(KubeObject(try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]), context: context)
        #expect(Self.same(scanned.values, foundation.values).isEmpty)
        let stored = scanned.values.compactMap { v -> String? in
            if case .text(let t) = v { return t }; return nil
        }.joined(separator: " ")
        #expect(!stored.contains("c2VjcmV0") && !stored.contains("YWRtaW4=") && !stored.contains("t0k") && !stored.contains("last-applied"))
        #expect(Self.canonical(scanned.annotations ?? "") == Self.canonical(#"{"team":"payé"}"#))
    }

    @Test func repeatedKeysFloatsAndMetadataOnlyObjectsReadAsFoundationReadsThem() throws {
        let text = #"{"kind":"Pod","metadata":{"uid":"p","labels":{"a":"1","a":"2"}},"status":{"containerStatuses":[{"restartCount":3.0},{"restartCount":2}]}}"#
        let o = try ScannedKubeObject(Array(text.utf8))
        #expect(o.stringMembers("metadata", "labels").map { "\($0.key)=\($0.value)" } == ["a=2"])
        #expect(o.keys("metadata", "labels") == ["a"])
        #expect(o.sum("restartCount", overArray: "status", "containerStatuses") == 5)
        let foundation = KubeObject(try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any])
        #expect(foundation.sum("restartCount", overArray: "status", "containerStatuses") == 5)
        let meta = try ScannedKubeObject(Array(#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"uid":"s"}}"#.utf8))
        meta.kindOverride = "Secret"
        meta.apiVersionOverride = "v1"
        #expect(meta.kind == "Secret" && meta.apiVersion == "v1")
    }

    @Test func malformedObjectsAreRejectedNotTrusted() {
        for bad in ["", "[]", "{\"kind\":", "{\"a\":1} trailing", "{\"metadata\":{\"uid\":\"x\"}", "\"text\""] {
            #expect(throws: Rejection.self, "\(bad)") { try ScannedKubeObject(Array(bad.utf8)) }
        }
    }
}
