import Crypto
import Foundation
import KubetrailCore

/// Bearer tokens from a file (one per line, each optionally scoped: `TokenScope`; `#` comments),
/// re-read when the file changes so tokens rotate without a restart. Tokens are compared in
/// constant time and never logged; one shorter than `minimumLength` is refused at load, since a
/// short token can be guessed over the network.
public final class TokenFile: @unchecked Sendable {
    public static let minimumLength = 32
    public let path: String
    private let lock = NSLock()
    private var tokens: [(digest: [UInt8], scope: TokenScope)] = []
    private var signature: (mtime: timespec, size: off_t, inode: ino_t)?
    private var lastCheck = Date.distantPast

    public init(path: String) throws {
        self.path = path
        try reload(force: true)
    }

    /// True when `presented` equals one of the tokens.
    public func accepts(_ presented: Substring) -> Bool { scope(of: presented) != nil }

    /// The scope of the line whose token equals `presented`, or nil. Every token is compared in
    /// full, so the time taken does not reveal which (or how much of one) matched.
    public func scope(of presented: Substring) -> TokenScope? {
        reloadIfChanged()
        lock.lock()
        let current = tokens
        lock.unlock()
        // Digests have one length, so neither a token's content nor its length shows in timing.
        let candidate = Array(SHA256.hash(data: Array(presented.utf8)))
        var found: TokenScope?
        for token in current {
            let equal = TokenFile.constantTimeEquals(token.digest, candidate)
            if equal { found = token.scope }
        }
        return found
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt64(a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= UInt64(x ^ y)
        }
        return diff == 0
    }

    private func reloadIfChanged() {
        lock.lock()
        let due = Date().timeIntervalSince(lastCheck) >= 1
        if due { lastCheck = Date() }
        lock.unlock()
        if due { try? reload(force: false) }
    }

    private func reload(force: Bool) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if force { throw AggregatorError.configuration("cannot read token file \(path): \(String(cString: strerror(errno)))") }
            // A removed token file revokes its tokens: fail closed.
            lock.lock()
            tokens = []
            signature = nil
            lock.unlock()
            return
        }
        let sig = (st.st_mtim, st.st_size, st.st_ino)
        lock.lock()
        let unchanged = signature.map { $0.mtime.tv_sec == sig.0.tv_sec && $0.mtime.tv_nsec == sig.0.tv_nsec && $0.size == sig.1 && $0.inode == sig.2 } ?? false
        lock.unlock()
        if unchanged && !force { return }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            if force { throw AggregatorError.configuration("cannot read token file \(path)") }
            return
        }
        let parsed: [(digest: [UInt8], scope: TokenScope)]
        do {
            parsed = try Self.parse(text)
        } catch {
            if force { throw AggregatorError.configuration("token file \(path): \(error)") }
            // A broken edit keeps the tokens in force rather than locking every agent out.
            return
        }
        if parsed.isEmpty && force { throw AggregatorError.configuration("token file \(path) holds no token") }
        lock.lock()
        // An emptied file revokes every token.
        tokens = parsed
        signature = sig
        lock.unlock()
    }
}

extension TokenFile {
    static func parse(_ text: String) throws -> [(digest: [UInt8], scope: TokenScope)] {
        var out: [(digest: [UInt8], scope: TokenScope)] = []
        for line in TokenLines.parse(text) {
            guard line.token.count >= minimumLength else {
                throw TokenFileError("line \(line.number): a token must be at least \(minimumLength) characters (make one with `openssl rand -hex 32`)")
            }
            let digest = Array(SHA256.hash(data: Array(line.token.utf8)))
            var scope = try TokenScope.parse(line.options, line: line.number)
            scope.id = digest
            out.append((digest, scope))
        }
        return out
    }
}

public enum AggregatorError: Error, CustomStringConvertible, Sendable {
    case configuration(String)

    public var description: String {
        switch self {
        case .configuration(let m): return m
        }
    }
}
