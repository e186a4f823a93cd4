import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailStore

/// `kubetrail grant-reader`: the read-only PostgreSQL role queries and dashboards connect as.
struct GrantReaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant-reader",
        abstract: "Make (or update) a PostgreSQL role that can only read kubetrail's tables.",
        discussion: """
            The role gets SELECT on every table, also day partitions made later; its sessions are \
            read-only (default_transaction_read_only) with a statement timeout. Run it as the role \
            that owns kubetrail's schema, which must be allowed to create roles. docs/postgres.md.
            """)

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The role's name.") var role: String = "kubetrail_reader"

    @Option(
        help: ArgumentHelp(
            "A file whose first line is the role's password (without one, an existing role keeps its own; a new one cannot log in).", valueName: "path"))
    var rolePasswordFile: String?

    @Option(help: ArgumentHelp("Longest a statement of the role may run (default 60s).", valueName: "DURATION"))
    var statementTimeout: String = "60s"

    func run() throws {
        do {
            guard let seconds = DurationText.seconds(statementTimeout), seconds >= 1 else {
                throw UserFacingError("--statement-timeout takes a duration of at least 1s (30s, 5m), not \(statementTimeout)")
            }
            var password: String?
            if let file = rolePasswordFile {
                guard let text = try? String(contentsOfFile: expandTilde(file), encoding: .utf8),
                    let line = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }), !line.isEmpty
                else {
                    throw UserFacingError("cannot read a password from \(file)")
                }
                password = line
            }
            try database.location().grantReader(PostgresReaderRole(name: role, password: password, statementTimeoutSeconds: Int(seconds)))
            print("role \(role) may read kubetrail's tables in \(database.path) (read-only sessions, statement timeout \(Int(seconds))s)")
        } catch let error as UserFacingError {
            printError(error.description)
            throw ExitCode(1)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
