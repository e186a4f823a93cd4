#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `fd00::/8`, or one address), and whether an address
/// is in it: as PostgreSQL's `inet <<= inet` decides (host bits of the network ignored, the
/// families must agree), so a detection matches the same rows on either store.
public struct IPNetwork: Equatable, Sendable {
    public let address: [UInt8]
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPNetwork.address(String(parts[0])) else { return nil }
        let bits = address.count * 8
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= bits, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            prefixLength = n
        } else {
            prefixLength = bits
        }
        self.address = address
    }

    public func contains(_ text: String) -> Bool {
        guard let other = IPNetwork.address(text), other.count == address.count else { return false }
        var remaining = prefixLength
        for i in 0..<address.count where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if address[i] & mask != other[i] & mask { return false }
            remaining -= take
        }
        return true
    }

    /// The address's bytes (4 or 16); nil when the text is not an address.
    static func address(_ text: String) -> [UInt8]? {
        if text.contains(":") {
            var a = in6_addr()
            guard inet_pton(AF_INET6, text, &a) == 1 else { return nil }
            return withUnsafeBytes(of: &a) { Array($0) }
        }
        var a = in_addr()
        guard inet_pton(AF_INET, text, &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }
}
