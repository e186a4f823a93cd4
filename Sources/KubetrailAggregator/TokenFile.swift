import Crypto
import Foundation

/// Bearer tokens from a file (one per line, `#` comments), re-read when the file changes so
/// tokens rotate without a restart. Tokens are compared in constant time and never logged.
public final class TokenFile: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var tokens: [[UInt8]] = []
    private var signature: (mtime: timespec, size: off_t, inode: ino_t)?
    private var lastCheck = Date.distantPast

    public init(path: String) throws {
        self.path = path
        try reload(force: true)
    }

    /// True when `presented` equals one of the tokens. Every token is compared in full, so the
    /// time taken does not reveal which (or how much of one) matched.
    public func accepts(_ presented: Substring) -> Bool {
        reloadIfChanged()
        lock.lock()
        let current = tokens
        lock.unlock()
        // Digests have one length, so neither a token's content nor its length shows in timing.
        let candidate = Array(SHA256.hash(data: Array(presented.utf8)))
        var matched: UInt8 = 0
        for token in current { matched |= TokenFile.constantTimeEquals(token, candidate) ? 1 : 0 }
        return matched == 1
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
        let parsed = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { Array(SHA256.hash(data: Array($0.utf8))) }
        if parsed.isEmpty && force { throw AggregatorError.configuration("token file \(path) holds no token") }
        lock.lock()
        // An emptied file revokes every token.
        tokens = parsed
        signature = sig
        lock.unlock()
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
