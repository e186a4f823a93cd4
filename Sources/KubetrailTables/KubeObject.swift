import KubetrailCore
import Foundation

/// A decoded Kubernetes API object (events and resources are few enough per second that
/// Foundation's parser is fine here, unlike the audit path).
public struct KubeObject: KubeFields, @unchecked Sendable {
    public var json: [String: Any]

    public init(_ json: [String: Any]) { self.json = json }

    public subscript(path: String...) -> Any? {
        var current: Any? = json
        for key in path {
            guard let dict = current as? [String: Any] else { return nil }
            current = dict[key]
        }
        return current is NSNull ? nil : current
    }

    public func string(_ path: String...) -> String? {
        var current: Any? = json
        for key in path { current = (current as? [String: Any])?[key] }
        if let s = current as? String { return s }
        return nil
    }

    public func int(_ path: String...) -> Int64? {
        var current: Any? = json
        for key in path { current = (current as? [String: Any])?[key] }
        // Not `is Bool`: on Linux an NSNumber holding 0 or 1 also answers true to that.
        if let n = current as? NSNumber { return n.int64Value }
        return nil
    }

    public func object(_ path: String...) -> [String: Any]? {
        var current: Any? = json
        for key in path { current = (current as? [String: Any])?[key] }
        return current as? [String: Any]
    }

    public func timestamp(_ path: String...) throws(Rejection) -> Timestamp? {
        var current: Any? = json
        for key in path { current = (current as? [String: Any])?[key] }
        guard let text = current as? String, !text.isEmpty else { return nil }
        guard let t = Timestamp(rfc3339: text) else {
            throw Rejection(reason: "invalid timestamp", detail: "invalid \(path.joined(separator: ".")) '\(text.prefix(40))'")
        }
        return t
    }

    public var kind: String? { string("kind") }
    public var apiVersion: String? { string("apiVersion") }

    private func value(_ path: [String]) -> Any? {
        var current: Any? = json
        for key in path { current = (current as? [String: Any])?[key] }
        return current is NSNull ? nil : current
    }

    public func has(_ path: String...) -> Bool { value(path) != nil }

    public func jsonText(_ path: String...) -> String? { Self.jsonText(value(path)) }

    public func jsonText(_ path: [String], without key: String) -> String? {
        guard var object = value(path) as? [String: Any] else { return Self.jsonText(value(path)) }
        object[key] = nil
        return Self.jsonText(object)
    }

    public func keys(_ path: String...) -> [String] { (value(path) as? [String: Any]).map { Array($0.keys) } ?? [] }

    public func stringMembers(_ path: String...) -> [(key: String, value: String)] {
        (value(path) as? [String: Any] ?? [:]).compactMap { k, v in (v as? String).map { (k, $0) } }
    }

    public func sum(_ key: String, overArray path: String...) -> Int64? {
        guard let items = value(path) as? [[String: Any]] else { return nil }
        return items.reduce(0) { $0 &+ max(0, KubeObject($1).int(key) ?? 0) }
    }

    /// Canonical JSON text (sorted keys) of a sub-value, or nil when absent.
    public static func jsonText(_ value: Any?) -> String? {
        guard let value, !(value is NSNull) else { return nil }
        if let s = value as? String { return JSONText.string(s) }
        guard JSONSerialization.isValidJSONObject(value),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Splits an API response document into objects: a `…List` with `items` (typed lists omit the
/// items' kind, so it is derived from the list's), a watch event `{"type","object"}`, or a
/// single object.
public enum KubeDocument {
    public enum Entry {
        case object(KubeObject, item: Int?)
        case deleted(KubeObject, item: Int?)
        case rejected(Rejection)
    }

    public static func entries(_ document: UnsafeRawBufferPointer) -> [Entry] {
        var bytes = document
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            bytes = UnsafeRawBufferPointer(rebasing: bytes[3...])
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            return [.rejected(Rejection(reason: "malformed JSON", detail: "invalid JSON: \(error.localizedDescription)"))]
        }
        guard let json = parsed as? [String: Any] else {
            return [.rejected(Rejection(reason: "not a JSON object", detail: "expected a JSON object"))]
        }
        let object = KubeObject(json)
        if let type = object.string("type"), let inner = object.object("object"), json["kind"] == nil {
            switch type {
            case "ADDED", "MODIFIED": return [.object(KubeObject(inner), item: nil)]
            case "DELETED": return [.deleted(KubeObject(inner), item: nil)]
            case "BOOKMARK": return []
            case "ERROR":
                let message = KubeObject(inner).string("message") ?? "watch error"
                return [.rejected(Rejection(reason: "watch error", detail: message))]
            default: return [.rejected(Rejection(reason: "unknown watch event", detail: "unknown watch event type \(type)"))]
            }
        }
        if let items = json["items"] as? [Any] {
            let listKind = object.kind ?? ""
            let itemKind = listKind.hasSuffix("List") ? String(listKind.dropLast(4)) : nil
            let listVersion = object.apiVersion
            return items.enumerated().map { index, item in
                guard var dict = item as? [String: Any] else {
                    return .rejected(Rejection(reason: "not a JSON object", detail: "list item is not an object", item: index))
                }
                if dict["kind"] == nil, let itemKind, !itemKind.isEmpty { dict["kind"] = itemKind }
                if dict["apiVersion"] == nil, let listVersion { dict["apiVersion"] = listVersion }
                return .object(KubeObject(dict), item: index)
            }
        }
        return [.object(object, item: nil)]
    }
}
