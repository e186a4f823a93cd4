import Foundation
import Testing
import TestSupport
@testable import KubetrailTables

func objects(_ relative: String) throws -> [KubeDocument.Entry] {
    try Fixtures.data(relative).withUnsafeBytes { KubeDocument.entries($0) }
}

func events(_ relative: String) throws -> [EventRow] {
    try objects(relative).compactMap { entry in
        guard case .object(let o, _) = entry else { return nil }
        return try EventNormalizer.row(o, context: IngestContext(sourceType: .fileImport))
    }
}

@Suite struct EventTests {
    @Test func newStyleEventFallsBackToEventTime() throws {
        let e = try #require(try events("k8s-api/fluentbit_eventlist_v1_with_creationTimestamp.json").first)
        #expect(e.firstTimestamp?.iso8601 == "2023-12-24T13:37:16.335172Z")
        #expect(e.lastTimestamp.iso8601 == "2023-12-24T13:37:16.335172Z")
        #expect(e.count == 1)
        #expect(e.reason == "FailedScheduling" && e.eventType == "Warning" && e.objectKind == "Pod")
        #expect(e.reportingController != nil)
        #expect(e.common.id == "6e3013d5-a79b-4dc4-b6c0-6b652302672e")
    }

    @Test func oldStyleEventKeepsItsTimestamps() throws {
        let e = try #require(try events("k8s-api/fluentbit_eventlist_v1_with_lastTimestamp.json").first)
        #expect(e.lastTimestamp.iso8601 == "2023-12-24T09:29:51.000000Z")
        #expect(e.eventTime == nil)
        #expect(e.objectKind == "Endpoints")
        #expect(e.sourceComponent != nil)
    }

    @Test func watchLineIsTheObject() throws {
        let e = try #require(try events("k8s-api/fluentbit_watch_v1_with_lastTimestamp.json").first)
        #expect(e.count == 16)
        #expect(e.reason == "FailedMount")
        #expect(e.lastTimestamp.iso8601 == "2024-07-31T18:47:15.000000Z")
    }

    @Test func eventsK8sIoShapeMapsRegardingNoteAndSeries() throws {
        let e = try #require(try events("k8s-api/schema-coverage/k8sapi_testdata_HEAD_events.k8s.io.v1.Event.json").first)
        #expect(e.message == "noteValue")
        #expect(e.objectKind == "kindValue")
        #expect(e.count == 1)  // series.count wins over deprecatedCount
        #expect(e.lastTimestamp.iso8601 == "2002-01-01T01:01:01.000002Z")
        #expect(e.reportingController == "reportingControllerValue")
    }

    @Test func eventListsFromRealClusters() throws {
        #expect(try events("k8s-api/ddagent_core_v1_EventList_k8s1.x_2016.json").count == 19)
        let gke = try events("k8s-api/ddagent_core_v1_EventList_gke_2017_1.json")
        #expect(!gke.isEmpty && gke.allSatisfy { $0.values.count == EventRow.schema.columns.count })
    }

    @Test func eventWithoutUIDIsRejected() {
        let o = KubeObject(["kind": "Event", "metadata": ["name": "x"], "lastTimestamp": "2020-01-01T00:00:00Z"])
        #expect(throws: Rejection.self) { try EventNormalizer.row(o, context: IngestContext(sourceType: .fileImport)) }
    }
}

@Suite struct ResourceTests {
    func resources(_ relative: String) throws -> [ResourceRow] {
        try objects(relative).compactMap { entry in
            guard case .object(let o, _) = entry else { return nil }
            return try ResourceNormalizer.row(o, context: IngestContext(sourceType: .fileImport))
        }
    }

    @Test func typedListItemsGetTheirKind() throws {
        let pods = try resources("k8s-api/ddagent_kubelet_PodList_k8s1.2.json")
        #expect(pods.count == 4)
        #expect(pods.allSatisfy { $0.resourceType == "Pod" })
        #expect(pods.contains { $0.nodeName != nil && $0.podIP != nil && $0.restartCount != nil })
        let services = try resources("k8s-api/ddagent_ServiceList_gke_2017_2.json")
        #expect(services.allSatisfy { $0.resourceType == "Service" && $0.serviceType != nil })
    }

    @Test func deploymentReplicasAndLabels() throws {
        let d = try #require(try resources("k8s-api/javaclient_deployment.json").first)
        #expect(d.resourceType == "Deployment")
        #expect(d.replicasDesired != nil)
        #expect(d.spec?.hasPrefix("{") == true)
        #expect(d.common.tags.allSatisfy { $0.contains("=") })
    }

    @Test func secretValuesNeverReachTheRow() throws {
        let secret: [String: Any] = [
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": [
                "name": "db", "namespace": "prod", "uid": "s-1", "resourceVersion": "7",
                "annotations": ["kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}", "team": "a"]
            ],
            "data": ["password": "aHVudGVyMg==", "user": "YWRtaW4="],
            "stringData": ["token": "plain-secret-token"]
        ]
        let row = try ResourceNormalizer.row(KubeObject(secret), context: IngestContext(sourceType: .fileImport))
        let everything = row.values.map { "\($0)" }.joined(separator: "|")
        #expect(!everything.contains("aHVudGVyMg=="))
        #expect(!everything.contains("YWRtaW4="))
        #expect(!everything.contains("plain-secret-token"))
        #expect(!everything.contains("last-applied"))
        #expect(row.dataKeys == ["password", "token", "user"])
        #expect(row.annotations == #"{"team":"a"}"#)
    }

    @Test func absurdRestartCountsDoNotOverflow() throws {
        let statuses: [[String: Any]] = [["restartCount": Int64.max], ["restartCount": Int64.max], ["restartCount": -5]]
        let pod = KubeObject(["kind": "Pod", "metadata": ["uid": "p"], "status": ["containerStatuses": statuses]])
        _ = try ResourceNormalizer.row(pod, context: IngestContext(sourceType: .fileImport))
    }

    @Test func watchDeletedIsADeletion() {
        let doc = #"{"type":"DELETED","object":{"kind":"Pod","metadata":{"uid":"p-1","name":"x"}}}"#
        let entries = Array(doc.utf8).withUnsafeBytes { KubeDocument.entries($0) }
        guard case .deleted(let o, _)? = entries.first else { Issue.record("expected deleted"); return }
        #expect(o.uid == "p-1")
    }

    @Test func malformedDocumentIsRejected() {
        let entries = Array(#"{"items": [1, {"kind":"Pod"}], "kind": "PodList""#.utf8).withUnsafeBytes { KubeDocument.entries($0) }
        guard case .rejected(let r)? = entries.first else { Issue.record("expected rejection"); return }
        #expect(r.reason == "malformed JSON")
    }
}
