import ArgumentParser
import Foundation
import KubetrailStore
import KubetrailTables

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print (and with -f follow) container logs across the cluster, as stern does, from kubernetes_pod_logs.",
        discussion: """
            Every matching container's lines, prefixed namespace/pod/container, one colour per pod on a \
            terminal. Lines come from the store, so pods that are gone still show, and -f follows across \
            container restarts and log rotation with no line twice and none missed; with --server, also \
            across lost connections. Examples: kubetrail logs -n kube-system 'coredns-*' -f; \
            kubetrail logs --level error --since 1h.
            """)

    @Argument(help: "Pods whose name matches this glob (* and ?); all when omitted.")
    var pod: String?

    @Option(name: [.customShort("n"), .long], help: "Only this namespace.")
    var namespace: String?

    @Option(name: [.customShort("c"), .long], help: "Only containers whose name matches this glob.")
    var container: String?

    @Option(help: "Only lines of this level: trace, debug, info, warn, error or fatal.")
    var level: String?

    @Option(help: "Only lines containing this text (case-sensitive).")
    var grep: String?

    @Option(help: "Lines from this far back: a duration like 10m, or an RFC 3339 time (default 10m).")
    var since: String = "10m"

    @Flag(name: [.customShort("f"), .long], help: "Keep following: print lines as they are committed, until interrupted.")
    var follow = false

    @Flag(help: "Prefix each line with its timestamp.")
    var timestamps = false

    @Option(name: [.customShort("o"), .long], help: "text (prefixed lines) or json (one object per line, every column).")
    var output: Format = .text

    @OptionGroup var source: FollowSourceOptions

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    /// The filters as one SQL condition, values as escaped literals.
    func condition() throws -> String? {
        var parts: [String] = []
        if let namespace { parts.append("namespace = " + SQLText.literal(namespace)) }
        if let pod { parts.append(Follow.like("pod_name", glob: pod)) }
        if let container { parts.append(Follow.like("container_name", glob: container)) }
        if let level {
            let upper = level.uppercased() == "WARNING" ? "WARN" : level.uppercased()
            guard LogLevel(rawValue: upper) != nil else {
                throw UserFacingError("--level must be one of trace, debug, info, warn, error, fatal; got \(level)")
            }
            parts.append("log_level = " + SQLText.literal(upper))
        }
        if let grep, !grep.isEmpty { parts.append(Follow.like("log_message", containing: grep)) }
        return parts.isEmpty ? nil : parts.joined(separator: " AND ")
    }

    mutating func run() throws {
        let out = TextOutput()
        let sink: any QuerySink =
            output == .json
            ? OutputFormat.jsonl.sink(writingTo: out)
            : LogLinesSink(out, timestamps: timestamps, colour: isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil)
        do {
            let follow = Follow(table: PodLogRow.schema, condition: try condition(), since: try Follow.since(since), follow: follow)
            try follow.run(source, into: sink, out: out)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
