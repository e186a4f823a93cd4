import ArgumentParser
import Foundation
import KubetrailStore
import KubetrailTables

struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow a table: its rows as they are committed (audit events as they happen, events, resource changes, pod logs).",
        discussion: """
            Prints the rows from --since (none by default), then every row committed or changed after, \
            once each, until interrupted. From the local store, or from an aggregator with --server, \
            where a lost connection resumes from the last row shown with no gap and no repeat.
            """)

    @Argument(help: "The table: kubernetes_audit_logs, kubernetes_pod_logs, kubernetes_events or kubernetes_resources.")
    var table: String

    @Option(name: .customLong("where"), help: "An SQL condition on the table's columns, as in a WHERE clause.")
    var condition: String?

    @Option(help: "Also print the rows from this far back: a duration like 10m, or an RFC 3339 time.")
    var since: String?

    @Option(name: [.customShort("o"), .long], help: "table (a few key columns per row), jsonl or csv (every column).")
    var output: Format = .table

    @OptionGroup var source: FollowSourceOptions

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, jsonl, csv
    }

    mutating func run() throws {
        guard let schema = ChangeJournal.tables.first(where: { $0.name == table }) else {
            printError("\(table) cannot be followed; follow one of \(ChangeJournal.tables.map(\.name).joined(separator: ", "))")
            throw ExitCode(2)
        }
        if let condition {
            do { try SQLCondition.check(condition) } catch {
                printError("--where: \(error)")
                throw ExitCode(2)
            }
        }
        let out = TextOutput()
        let sink: any QuerySink
        switch output {
        case .table: sink = FollowTableSink(out, table: schema)
        case .jsonl: sink = OutputFormat.jsonl.sink(writingTo: out)
        case .csv: sink = OutputFormat.csv.sink(writingTo: out)
        }
        do {
            try Follow(table: schema, condition: condition, since: try Follow.since(since), follow: true).run(source, into: sink, out: out)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
