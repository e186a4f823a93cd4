import ArgumentParser
import Foundation
import KubetrailImport
import KubetrailStore

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load audit logs, container logs, events or resources from files into the local database.",
        discussion: """
            PATH may be a file, a directory (its *.log, *.json and *.jsonl files, recursively), or - for \
            standard input; .gz files are decompressed. Only regular files are read: a FIFO or device \
            in a directory is skipped with a warning, and named as PATH is an error (use - for a pipe). Audit input may be JSON lines, pretty-printed \
            events, an audit.k8s.io EventList, or an AKS Event Hub export ({"records":[…]}). Events and \
            resources take `kubectl get … -o json` output, lists, single objects or watch streams. A bad \
            record is reported with its file and line and skipped; the rest is imported.
            """)

    @Argument(help: "What the input holds: audit, pod-logs, events or resources.")
    var kind: ImportKind

    @Argument(help: "Files, directories, or - for stdin.")
    var paths: [String]

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Cluster name stored with every row (tp_index, cluster_name).")
    var clusterName: String?

    @Option(help: "Node name stored with pod-log and audit rows (default: this host's name for pod logs).")
    var nodeName: String?

    @Option(help: "Largest line or JSON document accepted, in bytes.")
    var maxLineBytes: Int = 64 << 20

    @Option(help: "Rows per transaction (each commit is all or nothing).")
    var rowsPerTransaction: Int = 10_000

    @Flag(help: "Never draw a progress bar.")
    var noProgress = false

    mutating func run() throws {
        let inputs: [InputFiles.Input]
        do { inputs = try InputFiles.expand(paths) } catch { printError("\(error)"); throw ExitCode(1) }
        guard !inputs.isEmpty else { printError("no input files found in \(paths.joined(separator: " "))"); throw ExitCode(1) }
        do {
            let store = try database.open(.readWrite)
            var options = Importer.Options(
                kind: kind, clusterName: clusterName,
                nodeName: nodeName ?? (kind == .podLogs ? ProcessInfo.processInfo.hostName : nil))
            options.maxLineBytes = maxLineBytes
            options.rowsPerTransaction = max(1, rowsPerTransaction)
            let importer = Importer(store: store, options: options)
            if !noProgress, ProgressReporter.isTerminal { importer.progress = ProgressReporter() }
            let summary = try importer.run(inputs)
            print(summary.render(table: kind.schema.name), terminator: "")
            if let failure = summary.failure {
                printError(failure + "; the rows counted as stored above are committed")
                throw ExitCode(1)
            }
            if !summary.failedFiles.isEmpty { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

extension ImportKind: ExpressibleByArgument {}
