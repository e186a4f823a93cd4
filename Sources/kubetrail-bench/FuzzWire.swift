import ArgumentParser
import Foundation
import KubetrailCore

/// `kubetrail-bench fuzz-wire`: millions of mutated batches through the decoder. Each input is
/// written to `--current` before it is decoded, so after a crash that file holds the input to
/// add to Tests/KubetrailCoreTests/WireCorpus/.
struct FuzzWire: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fuzz-wire", abstract: "Mutation-fuzz the batch decoder.")

    @Option(help: "Mutated batches to decode.") var iterations = 2_000_000
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Where the input being decoded is kept (empty: not kept).") var current = "/tmp/kubetrail-fuzz-current.bin"

    func run() throws {
        var fuzzer = WireFuzzer(seed: seed)
        let fd = current.isEmpty ? -1 : open(current, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { if fd >= 0 { close(fd) } }
        var accepted = 0, maxBuffered = 0
        let limit = 4096
        let elapsed = seconds {
            for _ in 0..<iterations {
                let input = fuzzer.mutate(fuzzer.batch())
                if fd >= 0 {
                    _ = input.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                    _ = ftruncate(fd, off_t(input.count))
                }
                let outcome = fuzzer.runOne(maxRecordBytes: limit, input: input)
                if outcome.accepted { accepted += 1 }
                maxBuffered = max(maxBuffered, outcome.maxBuffered)
                precondition(outcome.maxBuffered <= limit + 64, "decoder buffered \(outcome.maxBuffered) bytes")
            }
        }
        print(
            String(
                format: "fuzz-wire: %d mutated batches in %.1f s (%.0f/s), %d accepted, %d rejected, max buffered %d bytes (record limit %d), no crash",
                iterations, elapsed, Double(iterations) / elapsed, accepted, iterations - accepted, maxBuffered, limit))
    }
}
