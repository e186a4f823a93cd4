#if canImport(Glibc)
import Glibc
#endif

/// Where the agent's requests go: `--aggregator`'s URL taken apart once, at start-up, so that a
/// URL the client cannot use is a configuration error rather than a retried failure.
public struct HTTPEndpoint: Sendable, Equatable {
    public var usesTLS: Bool
    /// The host name or address, without an IPv6 literal's brackets.
    public var host: String
    public var port: UInt16
    /// The path and query, beginning with `/`.
    public var target: String

    public init(_ url: String) throws {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            usesTLS = true
            rest = url.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            usesTLS = false
            rest = url.dropFirst(7)
        } else {
            throw AgentConfigurationError("--aggregator must be an http:// or https:// URL (got \"\(url)\")")
        }
        let withoutFragment = rest.prefix { $0 != "#" }
        let authorityEnd = withoutFragment.firstIndex { $0 == "/" || $0 == "?" } ?? withoutFragment.endIndex
        let authority = withoutFragment[..<authorityEnd]
        let path = withoutFragment[authorityEnd...]
        target = path.isEmpty ? "/" : (path.first == "?" ? "/" + path : String(path))
        guard !authority.contains("@") else {
            // The URL is not repeated: it holds a password.
            throw AgentConfigurationError("--aggregator must not carry credentials in the URL; use --token-file")
        }
        var portText: Substring? = nil
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw AgentConfigurationError("--aggregator has an unclosed IPv6 literal: \(url)") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw AgentConfigurationError("--aggregator has text after its IPv6 literal: \(url)") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }) else {
            throw AgentConfigurationError("--aggregator has no usable host: \(url)")
        }
        if let portText {
            guard let value = UInt16(portText), value > 0 else { throw AgentConfigurationError("--aggregator has a bad port \"\(portText)\": \(url)") }
            port = value
        } else {
            port = usesTLS ? 443 : 80
        }
        guard !target.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
            throw AgentConfigurationError("--aggregator's path must not contain spaces or line breaks: \(url)")
        }
    }

    /// The `Host` header: brackets around an IPv6 literal, the port unless it is the scheme's.
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (usesTLS ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// True when `host` is an IPv4 or IPv6 literal: verified against the certificate's IP
    /// addresses, and never sent as the TLS server name.
    public var hostIsAddress: Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
