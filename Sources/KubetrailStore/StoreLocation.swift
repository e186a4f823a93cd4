import KubetrailCore
import Foundation

/// Where a store is, as given to `--db` (or `db = …`): a file path or `sqlite:///path` for the
/// embedded SQLite store, `postgres://…` (or `postgresql://…`) for PostgreSQL. The scheme
/// picks the backend, so callers never name one.
public enum StoreLocation: Equatable, Sendable, CustomStringConvertible {
    case sqlite(path: String)
    /// A libpq URL; `password` (from `--db-password-file`) overrides the URL's and libpq's own
    /// sources (`PGPASSWORD`, `~/.pgpass`). Shown redacted.
    case postgres(url: String, password: String?)

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// How a store is opened.
    public enum Access: Sendable {
        /// Created when missing and migrated; `durability` and a page cache for the writer.
        case readWrite(durability: SQLiteStore.Durability, cacheMiB: Int)
        /// As `readWrite`, for a long-running server: a database server that is down or takes no
        /// writes at start is not an error; writes fail (and readiness with them) until it does.
        case serving(cacheMiB: Int)
        /// An existing store, for queries only: writes are refused by the backend itself.
        case readOnly
        /// As `readOnly`, for a long-running server's queries (PostgreSQL): a server that is
        /// down at start is not an error; each query connects when it runs.
        case servingQueries

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
        case "postgres", "postgresql":
            self = .postgres(url: text, password: nil)
        default:
            throw Invalid(description: "\(PostgresURL.redacted(text)): unknown store scheme \(scheme):// (use a file path, sqlite:///path or postgres://…)")
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return path
        case .postgres(let url, _): return PostgresURL.redacted(url)
        }
    }

    /// The location with the password read from `file` (its first line), for PostgreSQL; a
    /// file is refused for SQLite, which has no password.
    public func withPassword(fromFile file: String?) throws -> StoreLocation {
        guard let file else { return self }
        guard case .postgres(let url, _) = self else { throw Invalid(description: "--db-password-file applies to a postgres:// store only") }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw Invalid(description: "cannot read the database password file \(file)")
        }
        // By Character: a CRLF line end is one newline, not an LF with a CR left in the password.
        let password =
            text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first.map {
                String($0).trimmingCharacters(in: .whitespaces)
            } ?? ""
        guard !password.isEmpty else { throw Invalid(description: "the database password file \(file) is empty") }
        return .postgres(url: url, password: password)
    }

    /// Opens the store.
    public func open(_ access: Access) throws -> any Store {
        let store = try opened(access)
        if case .readWrite = access {
            // Imports and `collect` write without an aggregator's retention: the change journal's
            // old entries go as they start, one bounded pass (best effort: a full disk still opens).
            let cutoff = Timestamp.now.adding(microseconds: -ChangeJournal.keptSeconds * 1_000_000)
            _ = try? store.write { try $0.pruneChanges(olderThan: cutoff, limit: 100_000) }
        }
        return store
    }

    private func opened(_ access: Access) throws -> any Store {
        switch (self, access) {
        case (.sqlite(let path), .readOnly): return try SQLiteStore(readingFrom: path)
        case (.sqlite(let path), .readWrite(let durability, let cacheMiB)): return try SQLiteStore(path: path, durability: durability, cacheMiB: cacheMiB)
        case (.sqlite(let path), .serving(let cacheMiB)): return try SQLiteStore(path: path, durability: .full, cacheMiB: cacheMiB)
        case (.postgres(let url, let password), .serving): return try PostgresStore(url: url, password: password, waitForServer: true)
        // PostgreSQL commits durably by its own settings (synchronous_commit); no page cache here.
        case (.postgres(let url, let password), .readOnly): return try PostgresStore(url: url, password: password, readOnly: true)
        case (.postgres(let url, let password), .servingQueries): return try PostgresStore(url: url, password: password, readOnly: true, waitForServer: true)
        case (.sqlite, .servingQueries):
            throw Invalid(
                description:
                    "a query database is for PostgreSQL (a role that may only read); on SQLite queries run on a read-only connection of the store itself")
        case (.postgres(let url, let password), .readWrite): return try PostgresStore(url: url, password: password)
        }
    }
}
