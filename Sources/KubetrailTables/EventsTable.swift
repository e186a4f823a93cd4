/// `kubernetes_events`: one row per Event object, updated as it repeats.
public struct EventRow: TableRow, Equatable {
    public var common: CommonFields
    public var namespace: String?
    public var name: String?
    public var uid: String
    public var eventType: String?
    public var reason: String?
    public var message: String?
    public var action: String?
    public var objectKind: String?
    public var objectName: String?
    public var objectNamespace: String?
    public var objectUID: String?
    public var objectAPIVersion: String?
    public var sourceComponent: String?
    public var sourceHost: String?
    public var reportingController: String?
    public var reportingInstance: String?
    public var firstTimestamp: Timestamp?
    public var lastTimestamp: Timestamp
    public var eventTime: Timestamp?
    public var count: Int64
    public var resourceVersion: String?
    public var clusterName: String?

    public static let tableName = "kubernetes_events"

    public static let schema = TableSchema(
        name: tableName,
        description: "Cluster events: warnings, errors and state changes, one row per Event updated as it repeats.",
        columns: CommonFields.columns + [
            Column("namespace", .text, "Event namespace."),
            Column("name", .text, "Event name."),
            Column("uid", .text, "Event UID.", notNull: true),
            Column("event_type", .text, "Normal or Warning."),
            Column("reason", .text, "Short machine-readable reason, e.g. BackOff, FailedScheduling."),
            Column("message", .text, "Human-readable message (events.k8s.io: note)."),
            Column("action", .text, "What was done or failed (new-style events)."),
            Column("object_kind", .text, "Kind of the object the event is about."),
            Column("object_name", .text, "Name of that object."),
            Column("object_namespace", .text, "Namespace of that object."),
            Column("object_uid", .text, "UID of that object."),
            Column("object_api_version", .text, "API version of that object."),
            Column("source_component", .text, "Component that reported it (source.component)."),
            Column("source_host", .text, "Host it was reported from (source.host)."),
            Column("reporting_controller", .text, "Controller that emitted it (reportingComponent/reportingController)."),
            Column("reporting_instance", .text, "Instance of that controller."),
            Column("first_timestamp", .timestamp, "First occurrence (firstTimestamp, else eventTime)."),
            Column("last_timestamp", .timestamp, "Latest occurrence (lastTimestamp, series.lastObservedTime, else eventTime).", notNull: true),
            Column("event_time", .timestamp, "eventTime (microseconds, new-style events)."),
            Column("count", .int, "How often it occurred (count, series.count; 1 for singletons)."),
            Column("resource_version", .text, "resourceVersion of the stored state."),
            Column("cluster_name", .text, "Configured cluster name.")
        ],
        timeColumn: "last_timestamp",
        indexes: [
            ["last_timestamp"],
            ["reason", "event_type", "last_timestamp"],
            ["object_namespace", "object_name"]
        ],
        conflict: .replaceIfNewer(column: "resource_version"))

    public var values: [ColumnValue] {
        var v: [ColumnValue] = []
        v.reserveCapacity(40)
        common.append(to: &v)
        v.append(.text(namespace))
        v.append(.text(name))
        v.append(.text(uid))
        v.append(.text(eventType))
        v.append(.text(reason))
        v.append(.text(message))
        v.append(.text(action))
        v.append(.text(objectKind))
        v.append(.text(objectName))
        v.append(.text(objectNamespace))
        v.append(.text(objectUID))
        v.append(.text(objectAPIVersion))
        v.append(.text(sourceComponent))
        v.append(.text(sourceHost))
        v.append(.text(reportingController))
        v.append(.text(reportingInstance))
        v.append(.timestamp(firstTimestamp))
        v.append(.timestamp(lastTimestamp))
        v.append(.timestamp(eventTime))
        v.append(.int(count))
        v.append(.text(resourceVersion))
        v.append(.text(clusterName))
        return v
    }
}

/// core/v1 and events.k8s.io/v1 Events → rows, falling back between old- and new-style fields
/// the way kubectl does so `ORDER BY last_timestamp` works for both.
public enum EventNormalizer {
    public static func row(_ o: some KubeFields, context: IngestContext) throws(Rejection) -> EventRow {
        if let kind = o.kind, kind != "Event" {
            throw Rejection(reason: "not an Event", detail: "object of kind \(kind) is not an Event")
        }
        guard let uid = o.uid, !uid.isEmpty else {
            throw Rejection(reason: "missing metadata.uid", detail: "event without metadata.uid")
        }
        let regarding = o.has("involvedObject") ? "involvedObject" : "regarding"
        let eventTime = try o.timestamp("eventTime")
        let created = try o.timestamp("metadata", "creationTimestamp")
        // `??` takes autoclosures, which lose typed throws: read every candidate first.
        let firstTimestamp = try o.timestamp("firstTimestamp")
        let deprecatedFirst = try o.timestamp("deprecatedFirstTimestamp")
        let lastTimestamp = try o.timestamp("lastTimestamp")
        let deprecatedLast = try o.timestamp("deprecatedLastTimestamp")
        let seriesLast = try o.timestamp("series", "lastObservedTime")
        let first = firstTimestamp ?? deprecatedFirst ?? eventTime
        guard let last = seriesLast ?? lastTimestamp ?? deprecatedLast ?? first ?? created else {
            throw Rejection(reason: "missing timestamp", detail: "event \(uid) has no timestamp")
        }
        var count = o.int("series", "count") ?? o.int("count") ?? o.int("deprecatedCount") ?? 1
        if count == 0 { count = 1 }  // singleton events carry no count in the new API

        var common = CommonFields(id: uid, timestamp: last, table: EventRow.tableName, context: context)
        common.akas = [uid] + [o.string(regarding, "uid")].compactMap { $0 }.filter { !$0.isEmpty }
        return EventRow(
            common: common, namespace: o.namespace, name: o.name, uid: uid,
            eventType: o.string("type"), reason: o.string("reason"),
            message: o.string("message") ?? o.string("note"), action: o.string("action"),
            objectKind: o.string(regarding, "kind"), objectName: o.string(regarding, "name"),
            objectNamespace: o.string(regarding, "namespace"), objectUID: o.string(regarding, "uid"),
            objectAPIVersion: o.string(regarding, "apiVersion"),
            sourceComponent: o.string("source", "component") ?? o.string("deprecatedSource", "component"),
            sourceHost: o.string("source", "host") ?? o.string("deprecatedSource", "host"),
            reportingController: o.string("reportingComponent") ?? o.string("reportingController"),
            reportingInstance: o.string("reportingInstance"),
            firstTimestamp: first, lastTimestamp: last, eventTime: eventTime, count: count,
            resourceVersion: o.resourceVersion, clusterName: context.clusterName)
    }
}
