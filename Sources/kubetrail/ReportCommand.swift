import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailExport
import KubetrailIntegrity
import KubetrailStore

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A compliance summary of the audit log for a period, as Markdown or self-contained HTML.",
        discussion: """
            Failed authentication, Secret access, administrative actions by people, exec/attach into \
            pods, RBAC changes, anonymous requests and impersonation, each with its count, most \
            active users, most recent events and the SQL that selects them; activity over time; and, \
            on a local database, the audit trail's integrity (as `kubetrail verify`).
            """)

    @Option(help: ArgumentHelp("Start of the period: a duration ago (7d) or RFC 3339.", valueName: "WHEN")) var from: String = "7d"
    @Option(help: ArgumentHelp("End of the period (excluded; default now).", valueName: "WHEN")) var to: String?
    @Option(help: "markdown or html (default: html when --out ends in .html, else markdown).") var format: String?
    @Option(help: "Write the report to this file instead of standard output.") var out: String?
    @Option(help: "Most recent events listed per section.") var maxRows: Int = 100
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Report from an aggregator (http(s)://host:port) instead of the local database.") var server: String?
    @Option(help: "File holding a query token, for --server.") var tokenFile: String?
    @Option(help: "CA bundle (PEM) for --server over https.") var caFile: String?
    @Option(help: "The aggregator's digest-signing public key, for the integrity section.") var publicKey: String?
    @Option(help: "Digest files kept off the aggregator's host, for the integrity section.") var digests: String?

    func run() throws {
        let now = Timestamp.now
        let start: Timestamp, end: Timestamp, html: Bool
        let source: ReportBuilder.Source
        do {
            start = try TimeArgument.instant(from, now: now, flag: "--from")
            end = try to.map { try TimeArgument.instant($0, now: now, flag: "--to") } ?? now
            guard start < end else { throw UserFacingError("--from must be before --to") }
            switch format ?? (out?.lowercased().hasSuffix(".html") == true ? "html" : "markdown") {
            case "markdown", "md": html = false
            case "html": html = true
            default: throw UserFacingError("--format takes markdown or html, not \(format ?? "")")
            }
            guard maxRows >= 0 else { throw UserFacingError("--max-rows must be 0 or more") }
            if let server {
                guard let tokenFile else { throw UserFacingError("--server needs --token-file (a file holding a query token)") }
                source = .remote(server: server, token: try readToken(tokenFile), caFile: caFile.map(expandTilde))
                warnIfPlainHTTP(server)
            } else {
                source = .store(try database.open(.readOnly))
            }
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
        do {
            var report = try ReportBuilder(source: source, maxRows: maxRows).build(from: start, to: end, now: now, sourceName: server ?? database.path)
            if case .store(let store) = source {
                let key = try publicKey.map { try SigningKey.loadPublic(expandTilde($0)) }
                let copies = try digests.map { try DigestWriter.load(directory: expandTilde($0)) }
                let v = try ChainVerifier(store: store, publicKey: key, offHost: copies, from: start, to: end).run()
                report.integrity =
                    v.clusters.map { c in
                        "cluster \(c.cluster): \(c.entriesChecked) chain entries checked, \(c.digestsChecked) signed digests"
                            + (c.unsignedTail > 0 ? ", \(c.unsignedTail) entries not yet signed" : "")
                            + (c.rowsExpired > 0 ? ", \(c.rowsExpired) rows past retention" : "")
                    } + v.allNotes.map { "note: \($0)" }
                report.integrityProblems = v.findings.map(\.description)
                report.conflicts = v.conflicts.map(\.message)
            }
            let text = html ? ReportHTML.render(report) : ReportMarkdown.render(report)
            if let out {
                try PrivateFile.write(Data(text.utf8), to: expandTilde(out))
                print(
                    "wrote \(out): \(report.totalEvents) audit events, "
                        + report.sections.map { "\($0.total) \($0.title.lowercased())" }.joined(separator: ", "))
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
