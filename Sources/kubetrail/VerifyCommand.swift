import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailIntegrity
import KubetrailStore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the audit trail: recompute the hash chain of kubernetes_audit_logs and check it against the signed digests.",
        discussion: """
            Reports every row modified, deleted or inserted behind kubetrail's back, every altered \
            chain entry, and every digest that is missing, unlinked, wrongly signed or out of step \
            with the chain. --from/--to pick the digests around a period (by when they were made). \
            Give --digests with a copy of the digest files kept off the aggregator's host: only then \
            can a rewrite by someone holding the host's signing key be seen. See docs/integrity.md.
            """)

    @OptionGroup var database: DatabaseOptions
    @Option(help: ArgumentHelp("Check the chain from the last digest before this time: a duration ago (1h) or RFC 3339.", valueName: "WHEN")) var from: String?
    @Option(help: ArgumentHelp("…to the first digest after this time.", valueName: "WHEN")) var to: String?
    @Option(help: "The aggregator's digest-signing public key (Ed25519, base64).") var publicKey: String?
    @Option(help: "A directory of digest files kept off the aggregator's host (digest_directory, copied).") var digests: String?
    @Flag(help: "Check signatures only against the key inside each digest (proves nothing about who signed); without it --public-key is required.")
    var skipSignatures = false
    @Flag(help: "Succeed on a store with no audit chain at all (a new store); otherwise an empty chain is a failure.") var allowEmpty = false

    func run() throws {
        let now = Timestamp.now
        if publicKey == nil && !skipSignatures {
            printError(
                "give --public-key (the aggregator's audit-digest.key.pub, kept where the aggregator's host cannot change it), or --skip-signatures to check the chain without knowing who signed it"
            )
            throw ExitCode(2)
        }
        let start: Timestamp?, end: Timestamp?, key: Curve25519PublicKey?, copies: [String: [String]]?
        do {
            start = try from.map { try TimeArgument.instant($0, now: now, flag: "--from") }
            end = try to.map { try TimeArgument.instant($0, now: now, flag: "--to") }
            key = try publicKey.map { try SigningKey.loadPublic(expandTilde($0)) }
            copies = try digests.map { try DigestWriter.load(directory: expandTilde($0)) }
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
        let report: ChainVerifier.Report
        do {
            let store = try database.open(.readOnly)
            report = try ChainVerifier(store: store, publicKey: key, offHost: copies, from: start, to: end).run()
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        for c in report.clusters {
            let digests = c.firstDigest.map { "digests #\($0)–#\(c.lastDigest!)" } ?? "no digest in range"
            var line = "cluster \(c.cluster): \(c.entriesChecked) chain entries checked against \(digests) (\(c.digestsChecked) digests checked)"
            if c.rowsExpired > 0 { line += ", \(c.rowsExpired) rows past retention" }
            if c.unsignedTail > 0 { line += ", \(c.unsignedTail) entries after the last digest (not yet signed)" }
            print(line + (c.findings.isEmpty ? ": OK" : ": \(c.findings.count) problem\(c.findings.count == 1 ? "" : "s")"))
            for f in c.findings { print("  " + f.description) }
        }
        for f in report.dropped + report.inserted + report.conflicts { print("  " + f.description) }
        for n in report.allNotes { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
        if !report.findings.isEmpty { throw ExitCode(1) }
        if report.clusters.isEmpty {
            // Wiping rows, chain and digests together leaves exactly this: say so, never "OK".
            if allowEmpty { print("the audit chain is empty"); return }
            printError("the audit chain is empty: there is nothing to verify (a wiped store looks like this; --allow-empty accepts a new one)")
            throw ExitCode(1)
        }
    }
}
