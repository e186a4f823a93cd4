import Foundation

/// How a follow's bytes travel: as they are, or as zstd frames (`Content-Encoding: zstd`).
///
/// A follower of every row receives the whole table; fifty of them copied it fifty times
/// through their sockets, and that cost the aggregator more than its ingest did. JSON rows
/// shrink to about a tenth in zstd, and a shared page is compressed once for all its followers.
enum TailEncoding: String, Sendable {
    case identity
    case zstd

    /// The encoding an `Accept-Encoding` header asks for (RFC 9110 §12.5.3): zstd when it is
    /// listed, or `*` is, with a weight above 0; otherwise identity, which is always acceptable
    /// here (a client refusing it with `identity;q=0` still gets it, as most servers do).
    static func negotiate(_ header: String?) -> TailEncoding {
        guard let header else { return .identity }
        var zstd: Double?
        var any: Double?
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let name = parts.first, !name.isEmpty else { continue }
            var weight = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                weight = Double(parameter.dropFirst(2)) ?? 0
            }
            if name == "zstd" { zstd = weight } else if name == "*" { any = weight }
        }
        return (zstd ?? any ?? 0) > 0 ? .zstd : .identity
    }

    /// `bytes` as sent: one frame of their own, or unchanged.
    func encode(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .identity: return bytes
        case .zstd: return ZstdFrames.shared.frame(bytes)
        }
    }

    /// A keep-alive as sent, encoded once.
    var heartbeat: [UInt8] {
        switch self {
        case .identity: return Heartbeat.bytes
        case .zstd: return Self.zstdHeartbeat
        }
    }

    private static let zstdHeartbeat = ZstdFrames.shared.frame(Heartbeat.bytes)

    /// The `Content-Encoding` header's value, when there is one.
    var header: String? { self == .identity ? nil : rawValue }
}
