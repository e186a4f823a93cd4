import Foundation

/// Leadership as a lease in kubetrail_leases: the holder renews it at every check; another
/// aggregator takes it once it has expired (by the database's clock, the one clock they
/// share). A lease, not a session advisory lock, because any role that may connect can take
/// an advisory lock and hold it, while only a role that may write the table can take a lease.
final class PostgresLeaderLock: LeaderLock, @unchecked Sendable {
    private let store: PostgresStore
    private let name: String
    private let holder = ProcessInfo.processInfo.hostName + "/" + String(getpid()) + "/" + UUID().uuidString
    /// How long a lease outlives its last renewal: three missed checks of 5 s.
    static let seconds = 15

    init(store: PostgresStore, name: String) {
        self.store = store
        self.name = name
    }

    func tryAcquire() -> Bool {
        do {
            return try store.withReader { c in
                try !c.execute(
                    """
                    INSERT INTO kubetrail_leases AS l (name, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3::int))
                    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                    WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
                    RETURNING holder
                    """, [name, holder, String(Self.seconds)]
                ).rows.isEmpty
            }
        } catch {
            return false
        }
    }

    func release() {
        _ = try? store.withReader { c in try c.execute("DELETE FROM kubetrail_leases WHERE name = $1 AND holder = $2", [name, holder]) }
    }
}

extension PostgresStore {
    public func leaderLock(_ name: String) -> (any LeaderLock)? { PostgresLeaderLock(store: self, name: name) }
}
