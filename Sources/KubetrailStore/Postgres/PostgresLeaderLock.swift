import Foundation

/// Leadership by a session advisory lock on a connection of its own: PostgreSQL releases it
/// when the session ends, so a leader that dies (or whose connection breaks) frees it for the
/// next replica's attempt, with no lease to expire and no clock to trust.
final class PostgresLeaderLock: LeaderLock, @unchecked Sendable {
    private let store: PostgresStore
    private let key: String
    private let lock = NSLock()
    private var connection: PostgresConnection?
    private var held = false

    init(store: PostgresStore, name: String) {
        self.store = store
        self.key = "kubetrail-leader:" + name
    }

    func tryAcquire() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if held {
            // Still ours while the session lives: a round trip proves it does.
            if let c = connection, (try? c.execute("SELECT 1")) != nil, c.isHealthy { return true }
            held = false
            connection = nil
        }
        do {
            let c = try connection ?? store.connect()
            connection = c
            held = try c.execute("SELECT pg_try_advisory_lock(\(PostgresSchema.lockClass), hashtext($1))", [key]).rows.first?.first == "t"
        } catch {
            connection = nil
            held = false
        }
        return held
    }

    func release() {
        lock.lock()
        defer { lock.unlock() }
        if held, let c = connection { _ = try? c.execute("SELECT pg_advisory_unlock(\(PostgresSchema.lockClass), hashtext($1))", [key]) }
        held = false
        connection = nil
    }
}

extension PostgresStore {
    public func leaderLock(_ name: String) -> (any LeaderLock)? { PostgresLeaderLock(store: self, name: name) }
}
