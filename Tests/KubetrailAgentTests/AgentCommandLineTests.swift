import Foundation
import Testing
import TestSupport

/// The agent's own command-line grammar, on the real binary, and what that binary links.
@Suite struct AgentCommandLineTests {
    let agent = Subprocess.productURL("kubetrail-agent")

    @Test func helpListsEveryFlagAndBothCommands() throws {
        let help = try Subprocess.run(agent, ["--help"])
        #expect(help.status == 0)
        for flag in [
            "--aggregator <url>", "--token-file <file>", "--audit-path <glob> ...", "--no-audit", "--batch-wait <duration>",
            "--max-quarantine-bytes <bytes>", "--shutdown-timeout <duration>", "-h, --help", "run (default)", "replay-quarantine"
        ] {
            #expect(help.stdout.contains(flag), "\(flag)")
        }
        let replay = try Subprocess.run(agent, ["help", "replay-quarantine"])
        #expect(replay.status == 0 && replay.stdout.contains("USAGE: kubetrail-agent replay-quarantine") && !replay.stdout.contains("--batch-wait"))
        #expect(try Subprocess.run(agent, ["run", "-h"]).stdout.contains("USAGE: kubetrail-agent run"))
    }

    @Test func mistakesAreUsageErrors() throws {
        let cases: [([String], String)] = [
            (["--bogus"], "unknown option '--bogus'"),
            (["--batch-bytes"], "missing value for '--batch-bytes <bytes>'"),
            (["--no-audit=yes"], "'--no-audit' takes no value"),
            (["extra"], "unexpected argument 'extra'"),
            (["replay-quarantine", "--batch-wait", "1s"], "unknown option '--batch-wait'"),
            (
                ["--aggregator=http://127.0.0.1:1", "--node-name", "n", "--no-containers", "--batch-bytes=-5"],
                "--batch-bytes must be a whole number (0 or more), got -5"
            ),
            (["--aggregator", "ftp://x", "--node-name", "n"], "--aggregator must be an http:// or https:// URL (got \"ftp://x\")"),
            (["--aggregator", "http://user:secret@x", "--node-name", "n"], "--aggregator must not carry credentials in the URL; use --token-file")
        ]
        for (arguments, message) in cases {
            let r = try Subprocess.run(agent, arguments)
            #expect(r.status == 64 && r.stderr.contains("Error: " + message) && r.stderr.contains("--help' for more information"), "\(arguments): \(r.stderr)")
            #expect(!r.stderr.contains("secret"))
        }
    }

    /// `--flag=value` and `--flag value` mean the same; the last of a repeated flag wins (the
    /// test's own `--metrics-listen 127.0.0.1:0` comes after `off`).
    @Test func bothSpellingsOfAFlagWork() throws {
        let dir = try TemporaryDirectory()
        let agent = try AgentProcess(
            arguments: [
                "--aggregator=http://127.0.0.1:1", "--node-name", "node-one", "--no-containers", "--audit-path", dir.path("audit/*.log"),
                "--state-dir=" + dir.path("state"), "--metrics-listen", "off", "--batch-wait=100ms"
            ],
            logPath: dir.path("agent.log"))
        #expect(agent.metricsPort > 0)
        #expect(agent.stop() == 0)
        #expect(agent.log.contains("everything read was acknowledged"))
        #expect(agent.log.contains("agent started node=node-one aggregator=http://127.0.0.1:1/v1/ingest"), "\(agent.log)")
    }

    /// No libcurl (and its TLS, LDAP, SSH and Kerberos libraries) and no Foundation in the agent:
    /// they cost resident memory on every node.
    @Test func theAgentLinksOnlyWhatItUses() throws {
        let r = try Subprocess.run(URL(fileURLWithPath: "/usr/bin/env"), ["readelf", "-d", agent.path])
        #expect(r.status == 0, "\(r.stderr)")
        let needed = r.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { line -> String? in
            guard let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
        let allowed: Set<String> = [
            "libssl.so.3", "libcrypto.so.3", "libz.so.1", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libc.so.6", "ld-linux-x86-64.so.2"
        ]
        #expect(!needed.isEmpty && Set(needed).isSubset(of: allowed), "\(needed)")
    }
}
