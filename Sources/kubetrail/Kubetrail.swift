import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailStore

@main
struct Kubetrail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubetrail",
        abstract: "Collect Kubernetes audit logs, pod logs, events and resources into SQL tables and query them.",
        subcommands: [ImportCommand.self, CollectCommand.self, QueryCommand.self, TablesCommand.self, ExportCommand.self, VerifyCommand.self, ReportCommand.self,
                      VerifyExportCommand.self, KeygenCommand.self, AggregatorCommand.self])
}

/// `--db`, shared by every command that opens the store.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store: a SQLite file path or sqlite:///path.", discussion: "Default: $KUBETRAIL_DB, else ~/.kubetrail/kubetrail.db."))
    var db: String?

    /// What was given (or the default), before parsing.
    var value: String {
        if let db { return db }
        if let env = ProcessInfo.processInfo.environment["KUBETRAIL_DB"], !env.isEmpty { return env }
        return "~/.kubetrail/kubetrail.db"
    }

    func location() throws -> StoreLocation { try StoreLocation(parsing: value, expandingTilde: expandTilde) }

    /// The store's name for messages.
    var path: String { (try? location().description) ?? value }

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

/// `--from`/`--to` values: a duration ago (`15m`, `1h`, `7d`) or an RFC 3339 time.
enum TimeArgument {
    static func instant(_ text: String, now: Timestamp, flag: String) throws -> Timestamp {
        if let t = Timestamp(rfc3339: text) { return t }
        if let seconds = DurationText.seconds(text), seconds >= 0 { return now.adding(microseconds: -Int64(seconds * 1_000_000)) }
        throw UserFacingError("\(flag) takes a duration ago (15m, 1h, 7d) or an RFC 3339 time, not \"\(text)\"")
    }
}
