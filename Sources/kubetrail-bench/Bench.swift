import ArgumentParser
import Foundation
import KubetrailCore

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubetrail-bench",
        abstract: "Benchmarks that print each figure next to a baseline measured in the same run.",
        discussion: "Build in release: swift run -c release kubetrail-bench import",
        subcommands: [
            ImportBench.self, StoreBench.self, IngestBench.self, AgentBench.self, WatchBench.self, E2EBench.self, ExportBench.self, DetectBench.self,
            AlertLatencyBench.self, LiveBench.self, Generate.self, FuzzWire.self
        ])
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write realistic kube-apiserver audit events (JSON lines) ending now.")

    @Option(help: "How many events.") var events = 20_000
    @Option(help: "Time span they cover, in minutes, ending now.") var minutes = 180
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Output file.") var out: String

    func run() throws {
        let end = Timestamp.now
        let bytes = try AuditEventGenerator.write(
            count: events, to: out, seed: seed,
            start: end.adding(microseconds: -Int64(minutes) * 60_000_000), end: end)
        print("wrote \(events) audit events (\(bytes) bytes) to \(out)")
    }
}

/// Peak resident memory of this process, in MiB.
func maxRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
