import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailDetect
import KubetrailExport
import KubetrailStore
import KubetrailTables

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Run detection rules (Sigma) over the audit table: one finding per matching audit row.",
        discussion: """
            The built-in pack (SigmaHQ's Kubernetes audit rules and kubetrail's own; --list shows \
            them) runs unless --no-builtin is given; --rules adds Sigma rule files or directories, and \
            a file with a built-in rule's id replaces that rule. Exit status: 0 (findings or not), 1 when \
            --fail-on is given and a finding is that severe or worse, 2 on a bad rule or option, 3 when \
            the rules cannot run (the store or the aggregator refused or failed).
            """)

    @Option(name: .customLong("rules"), help: ArgumentHelp("A Sigma rule file, or a directory of them (*.yml, *.yaml); repeatable.", valueName: "PATH"))
    var ruleDirectories: [String] = []

    @Flag(help: "Leave the built-in pack out: only the --rules files run.")
    var noBuiltin = false

    @Option(name: .customLong("rule"), help: ArgumentHelp("Run only this rule (its id, name or file name); repeatable.", valueName: "ID"))
    var rules: [String] = []

    @Option(help: ArgumentHelp("Audit rows from this time on: a duration ago (24h) or RFC 3339.", valueName: "WHEN"))
    var from: String = "24h"

    @Option(help: ArgumentHelp("Audit rows before this time (default now).", valueName: "WHEN"))
    var to: String?

    @Option(name: [.customShort("o"), .long], help: "table, csv, json, jsonl or line.")
    var output: OutputFormat = .table

    @Flag(help: "List the rules instead of running them.")
    var list = false

    @Flag(
        help:
            "Print the rules as one SQL query for the store's engine (what --server runs; a local store gives the same findings from kubetrail's own evaluation), instead of running them."
    )
    var showSql = false

    @Option(help: ArgumentHelp("Exit 1 when a finding is this severe or worse (informational, low, medium, high, critical).", valueName: "SEVERITY"))
    var failOn: String?

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Run on an aggregator (http(s)://host:port) instead of the local database.")
    var server: String?

    @Option(help: "File holding a query token, for --server.")
    var tokenFile: String?

    @Option(help: "CA bundle (PEM) for --server over https.")
    var caFile: String?

    func run() throws {
        let now = Timestamp.now
        let selected: RuleSet, threshold: Severity?, start: Timestamp, end: Timestamp?
        do {
            threshold = try failOn.map { text in
                guard let s = Severity(rawValue: text.lowercased()) else {
                    throw UserFacingError("--fail-on takes informational, low, medium, high or critical, not \(text)")
                }
                return s
            }
            start = try TimeArgument.instant(from, now: now, flag: "--from")
            end = try to.map { try TimeArgument.instant($0, now: now, flag: "--to") }
            if let end, end <= start { throw UserFacingError("--from must be before --to") }
            let loaded = try RuleSet.load(directories: ruleDirectories.map(expandTilde), builtIn: !noBuiltin)
            selected = try loaded.selecting(rules)
            for id in loaded.replaced { printNote("note: \(id) from --rules replaces the built-in rule of that id") }
            guard !selected.detections.isEmpty else { throw UserFacingError("no rules to run: give --rules, or leave out --no-builtin") }
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }

        let out = TextOutput()
        if list {
            try RuleListing.write(selected.detections, format: output, to: out)
            return
        }

        let findings = FindingsSink(selected.detections, output: output.sink(writingTo: out))
        do {
            if let server {
                guard let tokenFile else { throw UserFacingError("--server needs --token-file (a file holding a query token)") }
                warnIfPlainHTTP(server)
                let remote = RemoteSQL(server: server, token: try readToken(expandTilde(tokenFile)), caFile: caFile.map(expandTilde))
                let sql = DetectionQuery(selected.detections, engine: try remote.engine()).sql(from: start, to: end)
                if showSql { print(sql); return }
                try remote.run(sql, into: findings)
            } else {
                let store = try database.open(.readOnly)
                if showSql { print(DetectionQuery(selected.detections, engine: store.engine).sql(from: start, to: end)); return }
                // The same findings as that SQL (tests hold the two to it), from one scan evaluated here.
                try DetectionScan(selected.detections).run(on: store, from: start, to: end, into: findings)
            }
            try findings.finish()
        } catch {
            // Not 1: a gate on --fail-on must tell "cannot run" from "found something".
            out.flush()
            printError("\(error)")
            throw ExitCode(3)
        }
        out.flush()
        printNote(summary(findings, rules: selected.detections.count, from: start, to: end ?? now))
        if let threshold, findings.counts.contains(where: { $0.key >= threshold && $0.value > 0 }) { throw ExitCode(1) }
    }

    func summary(_ f: FindingsSink, rules: Int, from: Timestamp, to: Timestamp) -> String {
        let bySeverity = Severity.allCases.reversed().compactMap { s in f.counts[s].map { "\($0) \(s.rawValue)" } }
        return "\(f.total) finding\(f.total == 1 ? "" : "s")\(bySeverity.isEmpty ? "" : " (" + bySeverity.joined(separator: ", ") + ")")"
            + " from \(rules) rule\(rules == 1 ? "" : "s") over \(from.iso8601) – \(to.iso8601)"
    }
}

/// `detect --list`: the rules as rows, in any output format.
enum RuleListing {
    static func write(_ detections: [Detection], format: OutputFormat, to out: TextOutput) throws {
        let sink = format.sink(writingTo: out)
        try sink.begin(columns: [
            QueryColumn(name: "id", declaredType: "TEXT"), QueryColumn(name: "name", declaredType: "TEXT"),
            QueryColumn(name: "severity", declaredType: "TEXT"), QueryColumn(name: "mitre", declaredType: "LIST TEXT"),
            QueryColumn(name: "title", declaredType: "TEXT"), QueryColumn(name: "author", declaredType: "TEXT"),
            QueryColumn(name: "source", declaredType: "TEXT")
        ])
        for d in detections {
            try sink.row([
                .text(d.id), d.name.map(QueryValue.text) ?? .null, .text(d.severity.rawValue), .text(JSONText.array(d.mitre)),
                .text(d.title), .text(d.author), .text(d.file)
            ])
        }
        try sink.end()
        out.flush()
    }
}
