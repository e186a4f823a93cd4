import Foundation

/// Where a store is, as given to `--db` (or `db = …`): a file path or `sqlite:///path` for the
/// embedded SQLite store. The scheme picks the backend, so callers never name one.
public enum StoreLocation: Equatable, Sendable, CustomStringConvertible {
    case sqlite(path: String)

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// How a store is opened.
    public enum Access: Sendable {
        /// Created when missing and migrated; `durability` and a page cache for the writer.
        case readWrite(durability: SQLiteStore.Durability, cacheMiB: Int)
        /// An existing store, for queries only: writes are refused by the backend itself.
        case readOnly

        public static let readWrite = Access.readWrite(durability: .normal, cacheMiB: 128)
    }

    /// Parses `--db`'s value; `expandingTilde` applies to plain paths.
    public init(parsing text: String, expandingTilde expand: (String) -> String = { $0 }) throws {
        guard let schemeEnd = text.range(of: "://") else {
            guard !text.isEmpty else { throw Invalid(description: "--db is empty: give a file path or sqlite:///path") }
            self = .sqlite(path: expand(text))
            return
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        let rest = String(text[schemeEnd.upperBound...])
        switch scheme {
        case "sqlite", "file":
            // sqlite:///abs/path (empty host) or sqlite://relative/path, as SQLAlchemy spells them.
            guard !rest.isEmpty, rest != "/" else { throw Invalid(description: "\(text): no file path after \(scheme)://") }
            let path = rest.removingPercentEncoding ?? rest
            self = .sqlite(path: path.hasPrefix("/") ? path : expand(path))
        default:
            throw Invalid(description: "\(text): unknown store scheme \(scheme):// (use a file path or sqlite:///path)")
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return path
        }
    }

    /// Opens the store.
    public func open(_ access: Access) throws -> any Store {
        switch (self, access) {
        case (.sqlite(let path), .readOnly): return try SQLiteStore(readingFrom: path)
        case (.sqlite(let path), .readWrite(let durability, let cacheMiB)): return try SQLiteStore(path: path, durability: durability, cacheMiB: cacheMiB)
        }
    }
}
