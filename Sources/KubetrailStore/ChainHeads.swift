import Foundation

/// Where each cluster's audit chain ends, as this process last committed it.
///
/// The database alone cannot say whether its newest chain entries are the ones the writer made:
/// someone with write access can delete or rewrite the tail and recompute the hashes, which are
/// not keyed. So the writer remembers the head it committed and refuses to extend any other;
/// the digest writer refuses to sign one. A cluster whose stored span failed its check at start
/// is refused outright until the store is repaired (docs/integrity.md).
public final class ChainHeads: @unchecked Sendable {
    public struct Head: Sendable, Equatable {
        public var seq: Int64
        public var hash: [UInt8]
        public init(seq: Int64, hash: [UInt8]) {
            self.seq = seq
            self.hash = hash
        }
    }

    private let lock = NSLock()
    private var heads: [String: Head] = [:]
    /// Heads of transactions whose COMMIT has been issued but whose outcome the writer has not
    /// reported yet: another transaction may already see them stored.
    private var proposed: [String: [Head]] = [:]
    private var refused: [String: String] = [:]
    static let maxProposedPerCluster = 16

    public init() {}

    public func head(_ cluster: String) -> Head? {
        lock.lock()
        defer { lock.unlock() }
        return heads[cluster]
    }

    /// Why appends to `cluster` are refused, or nil.
    public func refusal(_ cluster: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return refused[cluster]
    }

    /// Clusters refused, with their reasons.
    public var refusals: [String: String] {
        lock.lock()
        defer { lock.unlock() }
        return refused
    }

    /// Takes a head checked against the last digest as this process's own (at start).
    public func adopt(_ cluster: String, _ head: Head) {
        lock.lock()
        heads[cluster] = head
        refused[cluster] = nil
        lock.unlock()
    }

    public func refuse(_ cluster: String, because reason: String) {
        lock.lock()
        refused[cluster] = reason
        lock.unlock()
    }

    /// Adopts `head` unless this process has already written to the cluster (a check that ran
    /// beside the writer must not set its memory back).
    public func adoptIfUnwritten(_ cluster: String, _ head: Head) {
        lock.lock()
        if heads[cluster] == nil { heads[cluster] = head }
        lock.unlock()
    }

    /// The head this process stands behind, given what the store holds: its last committed
    /// head, or the stored one when that is a head a transaction just proposed (committed, its
    /// outcome not reported yet).
    public func vouched(_ cluster: String, stored: Head?) -> Head? {
        lock.lock()
        defer { lock.unlock() }
        if let stored, proposed[cluster]?.contains(stored) == true { return stored }
        return heads[cluster]
    }

    /// Before a commit: the heads its chain entries reach, if it succeeds.
    func propose(_ updates: [String: Head]) {
        lock.lock()
        for (cluster, head) in updates {
            var list = proposed[cluster, default: []]
            list.append(head)
            if list.count > Self.maxProposedPerCluster { list.removeFirst(list.count - Self.maxProposedPerCluster) }
            proposed[cluster] = list
        }
        lock.unlock()
    }

    /// After the writer learned how the commit went. A committed head replaces an older one
    /// only (two writers may report out of order); a failed one is forgotten. `committed: nil`
    /// (the outcome could not be learned) leaves it proposed: it counts only if the store shows it.
    func settle(_ updates: [String: Head], committed: Bool?) {
        lock.lock()
        for (cluster, head) in updates {
            guard let committed else { continue }
            proposed[cluster]?.removeAll { $0 == head }
            if proposed[cluster]?.isEmpty == true { proposed[cluster] = nil }
            if committed, heads[cluster].map({ head.seq > $0.seq }) ?? true { heads[cluster] = head }
        }
        lock.unlock()
    }
}

/// The stored chain's head is not the one this process wrote: the tail was changed behind the
/// writer's back, so nothing is appended to it (or signed) until someone looks.
public struct ChainTampered: Error, CustomStringConvertible, Sendable {
    public var cluster: String
    public var detail: String
    public init(cluster: String, detail: String) {
        self.cluster = cluster
        self.detail = detail
    }
    public var description: String {
        "the audit chain of cluster \(cluster) was changed behind the writer's back (\(detail)); audit rows for it are refused until an operator runs `kubetrail verify` and restores the store (docs/integrity.md)"
    }
}
