import Foundation
import KubetrailIntegrity
import KubetrailStore
import Logging
import Metrics

/// Writes the audit chain's signed digests at a fixed interval, and once more on shutdown so the
/// last rows are covered.
final class DigestService: @unchecked Sendable {
    let store: any Store
    let writer: DigestWriter
    let logger: Logger
    private var thread: PeriodicThread?

    init(store: any Store, writer: DigestWriter, logger: Logger) {
        self.store = store
        self.writer = writer
        self.logger = logger
    }

    /// The configured key, or the one beside the SQLite database (made, with its `.pub`, on
    /// first start). A PostgreSQL store has no "beside", and its aggregators must all sign with
    /// one key: it must be given.
    static func key(configured: String?, store: any Store, logger: Logger) throws -> Curve25519PrivateKey {
        if let configured { return try SigningKey.loadPrivate(configured) }
        guard !store.sharedWriters else {
            throw AggregatorError.configuration(
                "a PostgreSQL store needs --digest-signing-key (digest_signing_key): every aggregator on it signs with the same key, kept in a Secret (`kubetrail keygen`)"
            )
        }
        let path = (store.description as NSString).deletingLastPathComponent + "/audit-digest.key"
        // Allowed for a first run on one machine, but said: a backup or copy of this volume
        // carries the key, and with it the power to re-sign a rewritten store.
        logger.warning(
            "the audit digest signing key is beside the database; give --digest-signing-key on another volume (a Secret)",
            metadata: ["key": "\(path)"])
        if !FileManager.default.fileExists(atPath: path) {
            try SigningKey.generate(privatePath: path, publicPath: path + ".pub")
            logger.notice("made the audit digest signing key; give verifiers its public half", metadata: ["public_key": "\(path).pub"])
        }
        return try SigningKey.loadPrivate(path)
    }

    func start() {
        thread = PeriodicThread(name: "kubetrail-digests", interval: writer.interval) { [self] in write() }
    }

    func stop() {
        thread?.stop()
        write()
    }

    func write() {
        do {
            let digests = try writer.write(store)
            Counter(label: "kubetrail_audit_digests_total").increment(by: digests.count)
        } catch {
            Counter(label: "kubetrail_audit_digest_failures_total").increment()
            logger.error("cannot write the audit digest", metadata: ["error": "\(error)"])
        }
    }
}
