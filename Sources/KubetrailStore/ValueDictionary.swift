import Foundation
import KubetrailTables

/// The dictionaries behind interned columns (`AuditLayout`): one table per contract type, each
/// value stored once under an integer id. One per type because a view column takes its declared
/// type from the dictionary column its subquery reads.
///
/// A value is found by a 64-bit hash of its bytes on a plain index, and its bytes decide — no
/// UNIQUE index holding every value a second time. `refs` counts the rows holding it: retention
/// removes a value with its last row, so nothing outlives the rows it came from. Ids are
/// AUTOINCREMENT, never reused, and every removal bumps `kubetrail_values_generation`, which tells
/// a writer in any process that its cached ids may name a removed value.
enum ValueDictionary {
    static func table(for type: ColumnType) -> String {
        switch type {
        case .text: return "kubetrail_values_text"
        case .list: return "kubetrail_values_list"
        case .json: return "kubetrail_values_json"
        case .date: return "kubetrail_values_date"
        case .timestamp: return "kubetrail_values_timestamp"
        case .int, .bool: preconditionFailure("only text-like columns are interned")
        }
    }

    static let generationTable = "kubetrail_values_generation"

    static var types: [ColumnType] {
        Array(Set(AuditLayout.internedType.compactMap { $0 })).sorted { table(for: $0) < table(for: $1) }
    }

    static func createSQL() -> [String] {
        types.flatMap { type -> [String] in
            let t = table(for: type)
            return [
                "CREATE TABLE IF NOT EXISTS \(t) (id INTEGER PRIMARY KEY AUTOINCREMENT, hash INTEGER NOT NULL, value \(type.sqliteDeclaration) NOT NULL, refs INTEGER NOT NULL DEFAULT 0)",
                "CREATE INDEX IF NOT EXISTS \(t)_hash ON \(t) (hash)"
            ]
        } + [
            "CREATE TABLE IF NOT EXISTS \(generationTable) (generation INTEGER NOT NULL)",
            "INSERT INTO \(generationTable) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM \(generationTable))"
        ]
    }

    /// The hash a value is looked up by: the first 64 bits of SHA-256 of its bytes (as `tp_key`).
    static func hash(_ value: String) -> Int64 { AuditStorage.key(value) }
}

/// The dictionary ids a store's writer has seen committed, so most interned values cost a hash
/// lookup and no SQL. Ids a transaction finds or creates are only added once it commits (a
/// rolled-back insert would leave an id that names nothing), and all are dropped when the
/// dictionaries' generation moves (a value was removed).
final class InternedValueIDs: @unchecked Sendable {
    /// A value by its bytes: Swift's `String` equality is Unicode canonical equivalence, which
    /// would take "café" composed and decomposed for one value and store one for the other.
    struct Key: Hashable {
        var table: String
        var value: String

        static func == (a: Key, b: Key) -> Bool {
            a.table == b.table && a.value.utf8.elementsEqual(b.value.utf8)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(table)
            var v = value
            v.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    private let lock = NSLock()
    private var ids: [Key: Int64] = [:]
    private var bytes = 0
    private var generation: Int64?
    /// Bounds the memory the cache takes (annotations can be kilobytes and, with admission
    /// patches in them, different on every request): longer values are not cached, and past the
    /// total the cache starts over.
    static let maxValueBytes = 4096
    static let maxBytes = 32 << 20

    func id(_ key: Key) -> Int64? {
        lock.withLock { ids[key] }
    }

    /// Called with the generation a write transaction read: a different one empties the cache.
    func check(generation current: Int64) {
        lock.withLock {
            if generation != current {
                ids.removeAll()
                bytes = 0
                generation = current
            }
        }
    }

    /// Adds what a transaction committed, read under `generation`.
    func add(_ committed: [Key: Int64], generation committedUnder: Int64?) {
        guard !committed.isEmpty else { return }
        lock.withLock {
            guard committedUnder == generation else { return }
            for (key, id) in committed where key.value.utf8.count <= Self.maxValueBytes {
                if bytes > Self.maxBytes {
                    ids.removeAll(keepingCapacity: true)
                    bytes = 0
                }
                if ids.updateValue(id, forKey: key) == nil { bytes += key.value.utf8.count + 64 }
            }
        }
    }
}
