import KubetrailCore

/// Reads list replies and watch events with the byte scanner: the items and the watched object
/// are passed on as the bytes they arrived as, so a collection is never decoded into Foundation
/// objects just to be encoded again.
enum APIResponseScanner {
    struct List {
        var items: [Range<Int>] = []
        var resourceVersion: String?
        var continueToken: String?
    }

    static func list(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> List {
        var s = JSONScanner(bytes)
        var list = List()
        try s.enterObject()
        var first = true
        while let key = try s.nextKey(&first) {
            if s.token(key, equals: "items") {
                if try s.consumeNull() { continue }
                try s.enterArray()
                var firstItem = true
                while try s.nextElement(&firstItem) { list.items.append(try s.skipValue()) }
            } else if s.token(key, equals: "metadata") {
                if try s.consumeNull() { continue }
                try s.enterObject()
                var firstMeta = true
                while let m = try s.nextKey(&firstMeta) {
                    if s.token(m, equals: "resourceVersion") {
                        list.resourceVersion = try s.readString()
                    } else if s.token(m, equals: "continue") {
                        list.continueToken = try s.readString()
                    } else {
                        try s.skipValue()
                    }
                }
            } else {
                try s.skipValue()
            }
        }
        return list
    }

    /// `{"type": …, "object": …}`: the type and the object's bytes.
    static func watchEvent(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> (type: String, object: Range<Int>)? {
        var s = JSONScanner(bytes)
        var type: String?
        var object: Range<Int>?
        try s.enterObject()
        var first = true
        while let key = try s.nextKey(&first) {
            if s.token(key, equals: "type") {
                type = try s.readString()
            } else if s.token(key, equals: "object") {
                object = try s.skipValue()
            } else {
                try s.skipValue()
            }
        }
        guard let type, let object else { return nil }
        return (type, object)
    }

    /// `metadata.resourceVersion` and, for a Status, `code`.
    static func objectFields(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> (resourceVersion: String?, code: Int64?) {
        var s = JSONScanner(bytes)
        var rv: String?
        var code: Int64?
        try s.enterObject()
        var first = true
        while let key = try s.nextKey(&first) {
            if s.token(key, equals: "metadata") {
                if try s.consumeNull() { continue }
                try s.enterObject()
                var firstMeta = true
                while let m = try s.nextKey(&firstMeta) {
                    if s.token(m, equals: "resourceVersion") { rv = try s.readString() } else { try s.skipValue() }
                }
            } else if s.token(key, equals: "code"), s.peek() != 0x22 {
                code = try s.readInt()
            } else {
                try s.skipValue()
            }
        }
        return (rv, code)
    }
}
