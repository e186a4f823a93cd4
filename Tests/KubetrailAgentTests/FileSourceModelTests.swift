import Foundation
import KubetrailCore
import Testing
import TestSupport

/// In the manner of Vector's file-source model test: a seeded random run of what happens to log
/// files on a node — writes, kubelet and lumberjack rotations, deletion of rotated files,
/// logrotate's copytruncate, agent restarts and kill -9, an aggregator outage — against the
/// real agent and aggregator, then the store compared with a model of every line written: each
/// exactly once.
@Suite(.serialized) struct FileSourceModelTests {
    enum Operation: CaseIterable {
        case writeContainer, writeAudit, rotateContainer, rotateAudit, deleteRotated, copyTruncateAudit, restartAgent, killAgent, aggregatorOutage

        /// How often each comes up: mostly writes.
        var weight: Int {
            switch self {
            case .writeContainer: return 8
            case .writeAudit: return 6
            case .rotateContainer, .rotateAudit, .deleteRotated: return 2
            case .copyTruncateAudit, .restartAgent, .killAgent, .aggregatorOutage: return 1
            }
        }
    }

    /// The model: what was written where, and what became of the names.
    struct Model {
        var auditIDs: [String] = []
        var messages: [String] = []
        var containerRotations: [String] = []
        var auditGeneration = 0
        var next = 0
        var operations: [String] = []
    }

    @Test(arguments: [UInt64(11), 29, 47])
    func everyLineWrittenIsStoredOnceWhateverHappensToItsFile(seed: UInt64) throws {
        let node = try NodeFixture()
        defer { node.stopAll() }
        try node.startAggregator()
        let podDir = try node.makeContainer()
        let audit = node.auditDir + "/audit.log"
        try node.startAgent()
        var random = SplitMix64(seed: seed)
        var model = Model()
        let weighted = Operation.allCases.flatMap { Array(repeating: $0, count: $0.weight) }
        for step in 0..<60 {
            let operation = weighted[Int(random.next() % UInt64(weighted.count))]
            model.operations.append("\(step):\(operation)")
            switch operation {
            case .writeContainer:
                let count = 1 + Int(random.next() % 40)
                var lines: [String] = []
                for _ in 0..<count {
                    let n = model.next
                    model.next += 1
                    let line = LineWriter.criLine(n, tag: "s\(seed)")
                    // What the runtime wrote after the time, stream and tag.
                    func content(_ line: String) -> String { String(line.split(separator: " ", maxSplits: 3)[3]) }
                    if random.next() % 8 == 0 {
                        // A long line the runtime split: a P piece, then its F; stored joined.
                        let piece = line.replacingOccurrences(of: " F ", with: " P ") + " head"
                        let rest = line.replacingOccurrences(of: "line", with: "tail")
                        lines += [piece, rest]
                        model.messages.append(content(piece) + content(rest))
                    } else {
                        lines.append(line)
                        model.messages.append(content(line))
                    }
                }
                LineWriter.append(podDir + "/0.log", lines)
            case .writeAudit:
                let count = 1 + Int(random.next() % 30)
                let events = (0..<count).map { _ -> String in
                    let n = model.next
                    model.next += 1
                    model.auditIDs.append(LineWriter.auditID(n, tag: "s\(seed)"))
                    return LineWriter.auditEvent(n, tag: "s\(seed)")
                }
                LineWriter.append(audit, events)
            case .rotateContainer:
                // kubelet: rename to 0.log.<time>, the runtime reopens 0.log.
                guard FileManager.default.fileExists(atPath: podDir + "/0.log") else { continue }
                let name = "0.log.20261206-0\(String(format: "%05d", step))"
                try FileManager.default.moveItem(atPath: podDir + "/0.log", toPath: podDir + "/" + name)
                _ = FileManager.default.createFile(atPath: podDir + "/0.log", contents: nil)
                model.containerRotations.append(name)
            case .rotateAudit:
                guard FileManager.default.fileExists(atPath: audit) else { continue }
                model.auditGeneration += 1
                try FileManager.default.moveItem(
                    atPath: audit, toPath: node.auditDir + "/audit-2026-12-06T00-\(String(format: "%02d", model.auditGeneration % 60))-00.000.log")
                _ = FileManager.default.createFile(atPath: audit, contents: nil)
            case .deleteRotated:
                // kubelet keeps a few rotated files: the oldest goes, read to its end or not.
                guard !model.containerRotations.isEmpty else { continue }
                try FileManager.default.removeItem(atPath: podDir + "/" + model.containerRotations.removeFirst())
            case .copyTruncateAudit:
                // logrotate copytruncate: copy beside it, cut to 0, the writer carries on.
                guard FileManager.default.fileExists(atPath: audit) else { continue }
                try? FileManager.default.removeItem(atPath: audit + ".1")
                try FileManager.default.copyItem(atPath: audit, toPath: audit + ".1")
                let h = try #require(FileHandle(forWritingAtPath: audit))
                try h.truncate(atOffset: 0)
                try h.close()
            case .restartAgent:
                #expect(node.agent?.stop() == 0)
                try node.startAgent()
            case .killAgent:
                node.agent?.kill()
                try node.startAgent()
            case .aggregatorOutage:
                node.aggregator?.stop()
                Thread.sleep(forTimeInterval: 0.3)
                try node.startAggregator()
            }
            Thread.sleep(forTimeInterval: Double(random.next() % 150) / 1000)
        }
        let trace = model.operations.joined(separator: " ")
        let stored = node.waitUntil(90) {
            node.number("SELECT count(*) FROM kubernetes_audit_logs") >= model.auditIDs.count
                && node.number("SELECT count(*) FROM kubernetes_pod_logs") >= model.messages.count
        }
        #expect(stored, "seed \(seed): \(trace)\n\(node.agent?.log ?? "")")
        Thread.sleep(forTimeInterval: 1)  // anything beyond the model would have arrived by now
        let auditIDs = node.query("SELECT audit_id FROM kubernetes_audit_logs").map { $0[0] }
        #expect(auditIDs.count == model.auditIDs.count, "seed \(seed): \(trace)")
        #expect(Set(auditIDs) == Set(model.auditIDs), "seed \(seed): \(trace)")
        // Without the quotes the lines hold, CSV's quoting is out of the way.
        let messages = node.query(#"SELECT replace(log_message, '"', '') FROM kubernetes_pod_logs"#).map { $0.joined(separator: ",") }
        #expect(messages.count == model.messages.count, "seed \(seed): \(trace)")
        #expect(Set(messages) == Set(model.messages.map { $0.replacingOccurrences(of: "\"", with: "") }), "seed \(seed): \(trace)")
    }
}
