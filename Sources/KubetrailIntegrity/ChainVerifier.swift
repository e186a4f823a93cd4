import Crypto
import Foundation
import KubetrailCore
import KubetrailStore

/// `kubetrail verify`: recomputes each cluster's audit chain from the stored rows and checks it
/// against the signed digests. Names each modified, deleted or inserted row, each altered chain
/// entry, each digest whose signature, link or head does not hold, and each gap between digests.
public struct ChainVerifier {
    public struct Finding: Sendable, CustomStringConvertible {
        public enum Kind: String, Sendable { case modified, deleted, inserted, chain, digest, gap, signature, conflict, dropped }
        public var kind: Kind
        public var message: String
        public var description: String { "\(kind.rawValue): \(message)" }
    }

    public struct ClusterReport: Sendable {
        public var cluster: String
        public var entriesChecked = 0
        public var rowsExpired = 0
        public var digestsChecked = 0
        public var firstDigest: Int?
        public var lastDigest: Int?
        /// Entries after the last digest: consistent with the chain, but not yet signed.
        public var unsignedTail = 0
        public var findings: [Finding] = []
        public var notes: [String] = []
    }

    public struct Report: Sendable {
        public var clusters: [ClusterReport] = []
        public var inserted: [Finding] = []
        public var insertedTotal = 0
        /// Clusters other clusters' digests name that the store no longer has.
        public var dropped: [Finding] = []
        /// Different events stored under one auditID and stage (see `AuditConflict`).
        public var conflicts: [Finding] = []
        public var conflictsTotal = 0
        /// Rows whose key was rewritten (see `Store.rekeyedAuditRows`).
        public var rekeyed: [Finding] = []
        public var notes: [String] = []
        public var findings: [Finding] { clusters.flatMap(\.findings) + dropped + inserted + rekeyed + conflicts }
        public var allNotes: [String] { notes + clusters.flatMap { c in c.notes.map { "cluster \(c.cluster): \($0)" } } }
    }

    let store: any Store
    let publicKey: Curve25519.Signing.PublicKey?
    /// Digests kept off the host (`--digests DIR`), by cluster: they outrank the store's copies.
    let offHost: [String: [String]]?
    let from: Timestamp?
    let to: Timestamp?
    /// At most this many findings of one kind are spelled out per cluster; the rest are counted.
    static let findingsPerKind = 50

    public init(store: any Store, publicKey: Curve25519.Signing.PublicKey?, offHost: [String: [String]]?, from: Timestamp?, to: Timestamp?) {
        self.store = store
        self.publicKey = publicKey
        self.offHost = offHost
        self.from = from
        self.to = to
    }

    public func run() throws -> Report {
        var report = Report()
        let clusters = Set(try store.chainClusters()).union(offHost?.keys ?? [:].keys).sorted()
        if publicKey == nil {
            report.notes.append("no --public-key: signatures were checked against the key inside each digest, which proves nothing about who made it")
        }
        if offHost == nil {
            report.notes.append(
                "no --digests: digests were read from the store itself; a root user on the aggregator with the signing key could have rewritten them")
        }
        for cluster in clusters { report.clusters.append(try verify(cluster: cluster)) }
        report.dropped = try droppedClusters(present: Set(clusters))
        let conflicts = try store.auditConflicts(from: nil, to: nil, limit: Self.findingsPerKind)
        report.conflictsTotal = conflicts.total
        report.conflicts = conflicts.conflicts.map {
            Finding(
                kind: .conflict,
                message:
                    "auditID \($0.auditID) stage \($0.stage) (cluster \($0.cluster)): a different event arrived from \($0.conflictingSource) at \($0.receivedAt) than the one stored from \($0.storedSource); both are kept (kubetrail_audit_conflicts id \($0.id)): one of them is forged"
            )
        }
        if conflicts.total > conflicts.conflicts.count {
            report.conflicts.append(Finding(kind: .conflict, message: "and \(conflicts.total - conflicts.conflicts.count) more conflicts"))
        }
        let unchained = try store.unchainedAuditRows(from: from, to: to, limit: Self.findingsPerKind)
        report.insertedTotal = unchained.total
        report.inserted = unchained.ids.map {
            Finding(kind: .inserted, message: "row \($0.id) (tp_timestamp \($0.timestamp)) is not in the chain: it was inserted behind the writer's back")
        }
        if unchained.total > unchained.ids.count {
            report.inserted.append(Finding(kind: .inserted, message: "and \(unchained.total - unchained.ids.count) more rows not in the chain"))
        }
        let rekeyed = try store.rekeyedAuditRows(from: from, to: to, limit: Self.findingsPerKind)
        report.rekeyed = rekeyed.ids.map {
            Finding(
                kind: .modified,
                message:
                    "row \($0): its key (tp_key) is not its tp_id's: it was rewritten behind the writer's back, which lets a second event under that id in without a conflict"
            )
        }
        if rekeyed.total > rekeyed.ids.count {
            report.rekeyed.append(Finding(kind: .modified, message: "and \(rekeyed.total - rekeyed.ids.count) more rows with a rewritten key"))
        }
        return report
    }

    /// Every digest names the clusters that had a chain when it was made: one named by another
    /// cluster's newest digest with neither chain nor digests here was removed whole.
    private func droppedClusters(present: Set<String>) throws -> [Finding] {
        var named: [String: (by: String, number: Int, createdAt: String)] = [:]
        var newest: [String: AuditDigest] = [:]
        for stored in try store.digests() {
            guard let d = try? AuditDigest.parse(stored.document) else { continue }
            if newest[d.cluster].map({ $0.number < d.number }) ?? true { newest[d.cluster] = d }
        }
        for copies in offHost?.values.map({ $0 }) ?? [] {
            for text in copies {
                guard let d = try? AuditDigest.parse(text) else { continue }
                if newest[d.cluster].map({ $0.number < d.number }) ?? true { newest[d.cluster] = d }
            }
        }
        for d in newest.values {
            for c in d.clusters ?? [] where !present.contains(c) { named[c] = (d.cluster, d.number, d.createdAt) }
        }
        return named.sorted { $0.key < $1.key }.map { c, by in
            Finding(
                kind: .dropped,
                message:
                    "cluster \(c) is named by cluster \(by.by)'s digest #\(by.number) (\(by.createdAt)) but has no chain and no digest here: it was removed whole"
            )
        }
    }

    private func verify(cluster: String) throws -> ClusterReport {
        var r = ClusterReport(cluster: cluster)
        var counts: [Finding.Kind: Int] = [:]
        func note(_ kind: Finding.Kind, _ message: String) {
            counts[kind, default: 0] += 1
            if counts[kind]! <= Self.findingsPerKind { r.findings.append(Finding(kind: kind, message: message)) }
        }

        // The digests: signatures, links, numbering, spacing; off-host copies outrank the store's.
        let stored = try store.digests(cluster: cluster).map(\.document)
        var documents = stored
        if let copies = offHost?[cluster] {
            let storedByNumber = Dictionary(stored.compactMap { s in (try? AuditDigest.parse(s)).map { ($0.number, s) } }, uniquingKeysWith: { a, _ in a })
            for copy in copies {
                guard let d = try? AuditDigest.parse(copy) else { continue }
                if let s = storedByNumber[d.number] {
                    if s != copy { note(.digest, "digest #\(d.number) in the store differs from the off-host copy: the store's digests were rewritten") }
                } else {
                    note(.digest, "digest #\(d.number) (\(d.createdAt)) is in the off-host copy but missing from the store")
                }
            }
            documents = Array(
                Dictionary(
                    copies.compactMap { c in (try? AuditDigest.parse(c)).map { ($0.number, c) } }
                        + stored.compactMap { s in (try? AuditDigest.parse(s)).map { ($0.number, s) } },
                    uniquingKeysWith: { offHostCopy, _ in offHostCopy }
                ).values)
        }
        var digests: [(digest: AuditDigest, document: String)] = []
        for text in documents {
            guard let d = try? AuditDigest.parse(text) else { note(.digest, "a digest of cluster \(cluster) is not a digest document"); continue }
            digests.append((d, text))
        }
        digests.sort { $0.digest.number < $1.digest.number }
        var previous: (digest: AuditDigest, document: String)?
        var retentionCutoff: String?
        if let first = digests.first, first.digest.number != 1 {
            note(.gap, "digests #1–#\(first.digest.number - 1) are missing: digests are never pruned, so the oldest ones were removed")
        }
        for (d, text) in digests {
            r.digestsChecked += 1
            let check = d.checkSignature(trusted: publicKey)
            let signed = check == .valid
            switch check {
            case .valid: break
            case .missing: note(.signature, "digest #\(d.number) (\(d.createdAt)): not signed")
            case .otherAlgorithm(let a): note(.signature, "digest #\(d.number) (\(d.createdAt)): signed with \(a), not ed25519")
            case .otherKey: note(.signature, "digest #\(d.number) (\(d.createdAt)): signed with another key than the one given")
            case .mismatch: note(.signature, "digest #\(d.number) (\(d.createdAt)): the signature does not match: the digest was altered")
            }
            if let p = previous {
                if d.number != p.digest.number + 1 {
                    note(.gap, "digests #\(p.digest.number + 1)–#\(d.number - 1) are missing (between \(p.digest.createdAt) and \(d.createdAt))")
                } else if d.previousDigestSHA256 != sha256Hex(p.document) {
                    note(.digest, "digest #\(d.number) does not link to digest #\(p.digest.number): one of them was replaced")
                }
                if let a = Timestamp(rfc3339: p.digest.createdAt), let b = Timestamp(rfc3339: d.createdAt),
                    Double(b.microseconds - a.microseconds) / 1e6 > 2 * d.intervalSeconds + 60
                {
                    note(
                        .gap,
                        "no digest between \(p.digest.createdAt) and \(d.createdAt) (\(Int(Double(b.microseconds - a.microseconds) / 60e6)) min, interval \(Int(d.intervalSeconds)) s): the aggregator was stopped or digests were removed"
                    )
                }
            }
            for problem in d.problems ?? [] {
                note(.chain, "digest #\(d.number) (\(d.createdAt)) records that the aggregator found the chain changed behind its back: \(problem)")
            }
            // Only a cutoff someone trusted signed may excuse a missing row.
            if signed, let c = d.retentionCutoff, retentionCutoff == nil || c > retentionCutoff! { retentionCutoff = c }
            previous = (d, text)
        }
        if let newest = digests.last?.digest, let made = Timestamp(rfc3339: newest.createdAt),
            Double(Timestamp.now.microseconds - made.microseconds) / 1e6 > 2 * newest.intervalSeconds + 60
        {
            r.notes.append(
                "the newest digest is from \(newest.createdAt): rows committed since are not signed (expected when checking a copy; if the aggregator is running, digests are not being written or were removed)"
            )
        }

        // Where to start: the last digest before --from; or, when retention pruned the chain's
        // beginning, the digest it was pruned back to — which must itself be, with every digest
        // before it, older than the signed retention cutoff (otherwise that is deletion).
        let firstLive = try store.firstChainSeq(cluster: cluster)
        var prunable = 0
        if let cutoff = retentionCutoff {
            for (d, _) in digests {
                if let last = d.lastTimestamp, last >= cutoff { break }
                prunable = d.number
            }
        }
        var start: AuditDigest?
        for (d, _) in digests {
            let beforeFrom = from.map { f in Timestamp(rfc3339: d.createdAt).map { $0 <= f } ?? false } ?? false
            let pruned = d.number <= prunable && d.lastSeq != nil && d.lastSeq! < (firstLive ?? Int64.max)
            if beforeFrom || pruned { start = d }
        }
        let end = to.flatMap { t in digests.first { Timestamp(rfc3339: $0.digest.createdAt).map { $0 >= t } ?? false }?.digest }
        let inWindow = digests.map(\.digest).filter { d in
            (start == nil || d.number > start!.number) && (end == nil || d.number <= end!.number) && d.lastSeq != nil
        }
        var byLastSeq: [Int64: [AuditDigest]] = [:]
        for d in inWindow { byLastSeq[d.lastSeq!, default: []].append(d) }
        r.firstDigest = inWindow.first?.number
        r.lastDigest = inWindow.last?.number
        let lastSigned = digests.last?.digest.lastSeq

        var running = start.flatMap { $0.head.flatMap(Self.bytes) } ?? ChainHash.genesis
        var reached = Set<Int64>()
        var sinceDigest = 0
        var lastDigestSeq = start?.lastSeq
        try store.walkAuditChain(cluster: cluster, after: start?.lastSeq ?? 0, through: end?.lastSeq ?? .max) { entry, values in
            r.entriesChecked += 1
            sinceDigest += 1
            if let values {
                if RowHash.of(values) != entry.rowHash {
                    note(.modified, "row \(entry.id) (seq \(entry.seq), tp_timestamp \(entry.timestamp)) was modified after it was committed")
                }
            } else if let cutoff = retentionCutoff, entry.timestamp < cutoff {
                r.rowsExpired += 1
            } else {
                note(.deleted, "row \(entry.id) (seq \(entry.seq), tp_timestamp \(entry.timestamp)) was deleted")
            }
            let expected = ChainHash.next(running, cluster: entry.cluster, id: entry.id, timestamp: entry.timestamp, rowHash: entry.rowHash)
            if expected != entry.chainHash {
                note(
                    .chain,
                    "chain entry seq \(entry.seq) (row \(entry.id)) does not follow from the one before it: entries were altered, removed or inserted before it"
                )
            }
            running = entry.chainHash
            for d in byLastSeq[entry.seq] ?? [] {
                reached.insert(entry.seq)
                if hex(expected) != d.head || hex(entry.chainHash) != d.head {
                    note(
                        .digest,
                        "the chain up to seq \(entry.seq) does not match digest #\(d.number)'s signed head (\(d.createdAt)): entries since seq \(lastDigestSeq.map(String.init) ?? "0") were altered, removed or inserted"
                    )
                }
                if d.entries != sinceDigest {
                    note(.digest, "digest #\(d.number) counts \(d.entries) entries since the one before, the chain has \(sinceDigest)")
                }
                sinceDigest = 0
                lastDigestSeq = entry.seq
            }
            if let lastSigned, entry.seq > lastSigned { r.unsignedTail += 1 }
        }
        for d in inWindow where !reached.contains(d.lastSeq!) {
            if let s = start, d.lastSeq! <= (s.lastSeq ?? 0) {
                // Nothing was added since the anchor: the digest must repeat its head.
                if d.lastSeq != s.lastSeq || d.head != s.head {
                    note(.digest, "digest #\(d.number) (\(d.createdAt)) goes back to chain entry seq \(d.lastSeq!), before digest #\(s.number)'s")
                }
                continue
            }
            note(.digest, "digest #\(d.number) (\(d.createdAt)) ends at chain entry seq \(d.lastSeq!), which is missing: entries were removed")
        }
        if digests.isEmpty { r.unsignedTail = r.entriesChecked }
        for (kind, n) in counts where n > Self.findingsPerKind {
            r.findings.append(Finding(kind: kind, message: "and \(n - Self.findingsPerKind) more"))
        }
        return r
    }

    static func bytes(_ hex: String) -> [UInt8]? {
        Hex.decode(hex).flatMap { $0.count == 32 ? $0 : nil }
    }
}
