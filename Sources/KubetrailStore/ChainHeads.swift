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
    private var refused: [String: String] = [:]

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

    /// After a commit: the heads its chain entries reached.
    func committed(_ updates: [String: Head]) {
        lock.lock()
        for (cluster, head) in updates { heads[cluster] = head }
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
