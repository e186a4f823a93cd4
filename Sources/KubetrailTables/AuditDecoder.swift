/// Expands one audit input document (event, EventList, AKS export or record) into rows.
public enum AuditDecoder {
    public static func decode(
        _ document: UnsafeRawBufferPointer, context: IngestContext,
        _ emit: (RowOutcome<AuditLogRow>) throws -> Void
    ) rethrows {
        let parsed: AuditEventParser.Parsed
        switch parse(document, context) {
        case .success(let p): parsed = p
        case .failure(let error):
            try emit(.rejected(Rejection(reason: error.reason, detail: error.description)))
            return
        }
        switch parsed {
        case .event(let row):
            try emit(.row(row))
        case .eventList(let items):
            try forEachElement(items, in: document) { index, element in
                try decodeSingle(element, context: context, item: index, emit)
            }
        case .records(let range):
            try forEachElement(range, in: document) { index, element in
                try decodeRecord(element, context: context, item: index, emit)
            }
        case .aksRecord(let record):
            try emitRecord(record, context: context, item: nil, emit)
        }
    }

    public static func decode(
        _ document: [UInt8], context: IngestContext,
        _ emit: (RowOutcome<AuditLogRow>) throws -> Void
    ) rethrows {
        try document.withUnsafeBytes { try decode($0, context: context, emit) }
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, _ context: IngestContext) -> Result<AuditEventParser.Parsed, AuditParseError> {
        Result { () throws(AuditParseError) in try AuditEventParser.parse(bytes, context: context) }
    }

    private static func decodeSingle(
        _ bytes: UnsafeRawBufferPointer, context: IngestContext, item: Int,
        _ emit: (RowOutcome<AuditLogRow>) throws -> Void
    ) rethrows {
        switch parse(bytes, context) {
        case .success(.event(let row)): try emit(.row(row))
        case .success: try emit(.rejected(Rejection(reason: "not an audit event", detail: "list item is not an audit Event", item: item)))
        case .failure(let error): try emit(.rejected(Rejection(reason: error.reason, detail: error.description, item: item)))
        }
    }

    private static func decodeRecord(
        _ bytes: UnsafeRawBufferPointer, context: IngestContext, item: Int,
        _ emit: (RowOutcome<AuditLogRow>) throws -> Void
    ) rethrows {
        switch parse(bytes, context) {
        case .success(.aksRecord(let record)): try emitRecord(record, context: context, item: item, emit)
        case .success(.event(let row)): try emit(.row(row))
        case .success: try emit(.rejected(Rejection(reason: "not an audit event", detail: "record is neither an AKS record nor an audit Event", item: item)))
        case .failure(let error): try emit(.rejected(Rejection(reason: error.reason, detail: error.description, item: item)))
        }
    }

    private static func emitRecord(
        _ record: AuditEventParser.AKSRecord, context: IngestContext, item: Int?,
        _ emit: (RowOutcome<AuditLogRow>) throws -> Void
    ) rethrows {
        // Other diagnostic categories sent to the same hub carry klog text, not audit events.
        if let category = record.category, category != "kube-audit", category != "kube-audit-admin" {
            try emit(.skipped(reason: "AKS record of category \(category)"))
            return
        }
        guard let log = record.log else {
            try emit(.rejected(Rejection(reason: "missing properties.log", detail: "AKS record without properties.log", item: item)))
            return
        }
        var ctx = context
        if let pod = record.pod { ctx.sourceName = pod }
        switch log.withUnsafeBytes({ parse($0, ctx) }) {
        case .success(.event(let row)): try emit(.row(row))
        case .success: try emit(.rejected(Rejection(reason: "not an audit event", detail: "properties.log is not an audit Event", item: item)))
        case .failure(let error): try emit(.rejected(Rejection(reason: error.reason, detail: "properties.log: " + error.description, item: item)))
        }
    }

    /// Calls `body` with each element's bytes of the JSON array at `range` (already validated).
    static func forEachElement(
        _ range: Range<Int>, in document: UnsafeRawBufferPointer,
        _ body: (Int, UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        var s = JSONScanner(document, position: range.lowerBound)
        var index = 0
        // The parser validated this array already, so scanning it again cannot fail.
        guard (try? s.enterArray()) != nil else { return }
        var first = true
        while (try? s.nextElement(&first)) == true {
            guard let r = try? s.skipValue() else { return }
            try body(index, UnsafeRawBufferPointer(rebasing: document[r]))
            index += 1
        }
    }
}
