import Foundation
import KubetrailCore
import KubetrailStore

/// Checks the part of a cluster's chain no digest has signed yet: every entry since the last
/// digest must follow from that digest's head, and every row must still hash as committed (or be
/// gone by a retention cutoff a digest signed). With the head this process wrote, the span must
/// also end there. The digest writer runs it before signing a span, and the aggregator at start
/// before it adopts the stored head as its own.
public enum ChainSpanCheck {
    public struct Result: Sendable {
        /// Where the span ends (nil: a chain never begun).
        public var head: ChainHeads.Head?
        public var entries = 0
        public var problems: [String] = []
    }

    static let problemsSpelledOut = 10

    /// `shared`: other writers extend the same chain (PostgreSQL with several aggregators), so
    /// the chain may end past `written`; what must hold is that `written` is still in it.
    public static func run(_ w: any StoreTransaction, cluster: String, written: ChainHeads.Head?, shared: Bool = false) throws -> Result {
        let previous = try w.lastDigest(cluster: cluster).map { try AuditDigest.parse($0.document) }
        var running = previous?.head.flatMap(ChainVerifier.bytes) ?? ChainHash.genesis
        var end = previous.flatMap { d in d.lastSeq.map { ChainHeads.Head(seq: $0, hash: running) } }
        let cutoff = previous?.retentionCutoff
        var result = Result()
        var problems = 0
        var passedWritten = false
        func problem(_ message: String) {
            problems += 1
            if problems <= problemsSpelledOut { result.problems.append(message) }
        }
        try w.walkAuditChain(cluster: cluster, after: previous?.lastSeq ?? 0) { entry, values in
            result.entries += 1
            if let values {
                if RowHash.of(values) != entry.rowHash { problem("row \(entry.id) (seq \(entry.seq)) was modified after it was committed") }
            } else if cutoff == nil || entry.timestamp >= cutoff! {
                problem("row \(entry.id) (seq \(entry.seq)) was deleted")
            }
            let expected = ChainHash.next(running, cluster: entry.cluster, id: entry.id, timestamp: entry.timestamp, rowHash: entry.rowHash)
            if expected != entry.chainHash {
                problem("chain entry seq \(entry.seq) does not follow from the one before it\(previous.map { " (the span since digest #\($0.number))" } ?? "")")
            }
            running = entry.chainHash
            end = ChainHeads.Head(seq: entry.seq, hash: entry.chainHash)
            if entry.seq == written?.seq { passedWritten = entry.chainHash == written?.hash }
        }
        // Shared: this writer's head in the span walked, or signed before it.
        let kept = shared && (passedWritten || written.map { $0.seq <= previous?.lastSeq ?? 0 } ?? true)
        if let written, written != end, !kept {
            let found = end.map { "seq \($0.seq)" } ?? "nothing"
            problem(
                "this aggregator wrote the chain up to seq \(written.seq), the store now ends at \(found) with another head: entries were removed or rewritten")
        }
        if problems > problemsSpelledOut { result.problems.append("and \(problems - problemsSpelledOut) more") }
        result.head = end
        return result
    }

    /// At start: checks each cluster's unsigned span and adopts its head as this process's own,
    /// or refuses the cluster. Returns the refusals.
    @discardableResult
    public static func adoptHeads(_ store: any Store) throws -> [String: [String]] {
        var refused: [String: [String]] = [:]
        // The span is walked on a snapshot, beside the writer; only the adoption takes the write
        // lock, and only when the stored head is still where the walk ended (otherwise the
        // writer has since extended it, from that same checked prefix, and knows its own head).
        let results: [(String, Result)] = try store.read { r in
            try r.chainClusters().map { ($0, try run(r, cluster: $0, written: nil)) }
        }
        try store.write { w in
            for (cluster, result) in results {
                if !result.problems.isEmpty {
                    refused[cluster] = result.problems
                    store.writtenHeads.refuse(cluster, because: "found at start: " + result.problems.joined(separator: "; "))
                } else if let head = result.head, try w.storedChainHead(cluster: cluster) == head {
                    store.writtenHeads.adoptIfUnwritten(cluster, head)
                }
            }
        }
        return refused
    }
}
