import ArgumentParser
import KubetrailAgent

struct ReplayQuarantine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay-quarantine",
        abstract: "Send the batches the aggregator refused again (after fixing the cause); each one accepted is removed.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        var config = AgentConfiguration()
        try connection.resolve(into: &config, .process)
        let outcome = try QuarantineReplay(configuration: config).run()
        print("replayed \(outcome.accepted) batch(es); \(outcome.refused) still refused and kept")
        if outcome.refused > 0 { throw ExitCode(1) }
    }
}
