import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailStore

@main
struct Kubetrail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubetrail",
        abstract: "Collect Kubernetes audit logs, pod logs, events and resources into SQL tables and query them.",
        subcommands: [
            ImportCommand.self, CollectCommand.self, QueryCommand.self, TablesCommand.self, ExportCommand.self, VerifyCommand.self, ReportCommand.self,
            VerifyExportCommand.self, KeygenCommand.self, AggregatorCommand.self, GrantReaderCommand.self, DetectCommand.self,
            TailCommand.self, LogsCommand.self
        ])
}

/// `--db` and `--db-password-file`, shared by every command that opens the store.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The store: a SQLite file path, sqlite:///path, or postgres://USER@HOST:PORT/DB?sslmode=verify-full.",
            discussion:
                "Default: $KUBETRAIL_DB, else ~/.kubetrail/kubetrail.db. PostgreSQL's password comes from --db-password-file, else PGPASSWORD or ~/.pgpass, as for psql."
        ))
    var db: String?

    @Option(
        name: .customLong("db-password-file"),
        help: ArgumentHelp("A file whose first line is the PostgreSQL password (default: $KUBETRAIL_DB_PASSWORD_FILE).", valueName: "path"))
    var dbPasswordFile: String?

    /// What was given (or the default), before parsing.
    var value: String {
        if let db { return db }
        if let env = ProcessInfo.processInfo.environment["KUBETRAIL_DB"], !env.isEmpty { return env }
        return "~/.kubetrail/kubetrail.db"
    }

    var passwordFile: String? {
        (dbPasswordFile ?? ProcessInfo.processInfo.environment["KUBETRAIL_DB_PASSWORD_FILE"].flatMap { $0.isEmpty ? nil : $0 }).map(expandTilde)
    }

    func location() throws -> StoreLocation {
        try StoreLocation(parsing: value, expandingTilde: expandTilde).withPassword(fromFile: passwordFile)
    }

    /// The store's name for messages (a PostgreSQL URL without its password).
    var path: String { (try? StoreLocation(parsing: value, expandingTilde: expandTilde).description) ?? PostgresURL.redacted(value) }

    func open(_ access: StoreLocation.Access) throws -> any Store { try location().open(access) }
}

func expandTilde(_ path: String) -> String {
    guard path.hasPrefix("~") else { return path }
    let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
    return home + path.dropFirst()
}

/// Errors the user caused print one clear line and exit 1, without a stack of Swift types.
struct UserFacingError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data(("Error: " + message + "\n").utf8))
}

/// A line for the person at the terminal, on standard error so standard output stays data.
func printNote(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// `--from`/`--to` values: a duration ago (`15m`, `1h`, `7d`) or an RFC 3339 time.
enum TimeArgument {
    static func instant(_ text: String, now: Timestamp, flag: String) throws -> Timestamp {
        if let t = SinceText.instant(text, now: now) { return t }
        throw UserFacingError("\(flag) takes a duration ago (15m, 1h, 7d) or an RFC 3339 time, not \"\(text)\"")
    }
}
