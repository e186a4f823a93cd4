import CCurl
import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP client on libcurl for the CLI's `--server` commands, alert sinks and
/// benchmarks (the agent has its own, `IngestHTTPClient`). It keeps its connection alive between requests, verifies TLS
/// unless told otherwise, and never sends `Expect: 100-continue` (which costs a second per large
/// POST against Hummingbird). It never follows a redirect: every request carries a bearer
/// token, and a redirect to another host would hand that host the token.
public final class CurlHTTPClient {
    public typealias Options = HTTPClientOptions
    public typealias Response = HTTPReply

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var code: Int32
        public var message: String
        /// Network-level: worth retrying (DNS, refused, reset, timeout). TLS verification and
        /// configuration errors are not.
        public var isRetryable: Bool
        public var description: String { message }
    }

    private let handle: UnsafeMutableRawPointer
    private let options: Options
    private let errorBuffer: UnsafeMutablePointer<CChar>

    private static let globalInit: Void = { _ = ccurl_global_init_default() }()

    public init(options: Options = .init()) throws {
        _ = Self.globalInit
        guard let h = curl_easy_init() else {
            throw Failure(code: -1, message: "libcurl could not create a handle", isRetryable: false)
        }
        handle = h
        self.options = options
        // libcurl keeps this pointer, so it must not be a Swift array.
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// POSTs `body` and returns the status and reply; throws only when no HTTP answer came.
    public func post(_ url: String, body: [UInt8], headers: [(String, String)]) throws -> Response {
        try perform(url, body: body, headers: headers, collector: Collector(limit: options.maxResponseBytes))
    }

    /// GETs `url` (or POSTs `body`), handing a 200 reply's body to `onBody` chunk by chunk as it
    /// arrives (return false to stop); other replies are collected as usual. No overall time
    /// limit: a stream counts as stalled after `options.timeout` seconds without a byte.
    public func stream(
        _ url: String, body: [UInt8]? = nil, headers: [(String, String)],
        onBody: @escaping (UnsafeRawBufferPointer) -> Bool
    ) throws -> Response {
        let collector = Collector(limit: options.maxResponseBytes)
        collector.onBody = onBody
        return try perform(url, body: body, headers: headers, collector: collector)
    }

    private func perform(_ url: String, body: [UInt8]?, headers: [(String, String)], collector: Collector) throws -> Response {
        curl_easy_reset(handle)  // keeps the connection cache
        let box = Unmanaged.passRetained(collector)
        defer { box.release() }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        for (name, value) in headers + [("Expect", "")] {
            list = curl_slist_append(list, value.isEmpty ? "\(name):" : "\(name): \(value)")
        }
        errorBuffer[0] = 0
        return try (body ?? []).withUnsafeBytes { raw -> Response in
            _ = ccurl_setopt_str(handle, CURLOPT_URL, url)
            if body != nil {
                _ = ccurl_setopt_long(handle, CURLOPT_POST, 1)
                _ = ccurl_setopt_ptr(handle, CURLOPT_POSTFIELDS, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
                _ = ccurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
            } else {
                _ = ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1)
            }
            if collector.onBody == nil {
                _ = ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(options.timeout * 1000))
            } else {
                _ = ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
                _ = ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(options.timeout)))
            }
            // Already libcurl's defaults after the reset; set anyway so that no later change to
            // the defaults or to this code can make a redirect carry the Authorization header.
            _ = ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
            _ = ccurl_setopt_long(handle, CURLOPT_UNRESTRICTED_AUTH, 0)
            _ = ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
            _ = ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            _ = ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout * 1000))
            _ = ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
            _ = ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
            if let ca = options.caFile { _ = ccurl_setopt_str(handle, CURLOPT_CAINFO, ca) }
            if let encodings = options.acceptEncoding { _ = ccurl_setopt_str(handle, CURLOPT_ACCEPT_ENCODING, encodings) }
            _ = ccurl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer)
            _ = ccurl_setopt_writefunction(handle) { ptr, size, count, user in
                let c = Unmanaged<Collector>.fromOpaque(user!).takeUnretainedValue()
                return c.append(body: UnsafeRawBufferPointer(start: ptr, count: size * count)) ? size * count : 0
            }
            _ = ccurl_setopt_ptr(handle, CURLOPT_WRITEDATA, box.toOpaque())
            _ = ccurl_setopt_headerfunction(handle) { ptr, size, count, user in
                let c = Unmanaged<Collector>.fromOpaque(user!).takeUnretainedValue()
                c.header(String(decoding: UnsafeRawBufferPointer(start: ptr, count: size * count), as: UTF8.self))
                return size * count
            }
            _ = ccurl_setopt_ptr(handle, CURLOPT_HEADERDATA, box.toOpaque())
            let rc = curl_easy_perform(handle)
            guard rc == CURLE_OK else {
                if rc == CURLE_WRITE_ERROR, collector.stopped {
                    throw Failure(code: Int32(rc.rawValue), message: "\(url): stopped by the reader", isRetryable: false)
                }
                let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(rc))
                throw Failure(code: Int32(rc.rawValue), message: "\(url): \(detail)", isRetryable: Self.retryable(rc))
            }
            var status = 0, connects = 0
            _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            _ = ccurl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
            if (300..<400).contains(status) {
                let location = collector.headers["location"].map { "to \($0)" } ?? "without a Location"
                throw Failure(
                    code: Self.redirected,
                    message: "\(url) answered \(status), a redirect \(location); kubetrail does not follow redirects "
                        + "(the token would go along): give the final URL", isRetryable: false)
            }
            return Response(status: status, body: collector.body, retryAfter: collector.retryAfter, newConnection: connects > 0, headers: collector.headers)
        }
    }

    /// `Failure.code` of a 3xx answer (libcurl's own codes are all positive).
    public static let redirected: Int32 = -2

    static func retryable(_ rc: CURLcode) -> Bool {
        switch rc {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
            CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_COULDNT_RESOLVE_PROXY, CURLE_HTTP2,
            CURLE_HTTP2_STREAM:
            return true
        default:
            return false
        }
    }

    /// Receives the reply from libcurl's callbacks.
    final class Collector {
        let limit: Int
        var body: [UInt8] = []
        var retryAfter: Double?
        var headers: [String: String] = [:]
        var status = 0
        var onBody: ((UnsafeRawBufferPointer) -> Bool)?
        var stopped = false

        init(limit: Int) { self.limit = limit }

        /// False stops the transfer.
        func append(body chunk: UnsafeRawBufferPointer) -> Bool {
            if status == 200, let onBody {
                if !onBody(chunk) { stopped = true; return false }
                return true
            }
            let room = limit - body.count
            if room > 0 { body.append(contentsOf: chunk.prefix(room)) }
            return true
        }

        func header(_ line: String) {
            if line.hasPrefix("HTTP/") {
                // A new response (after a 100 Continue): its status, fresh headers.
                status = Int(line.split(whereSeparator: { $0 == " " || $0 == "\r" || $0 == "\n" }).dropFirst().first ?? "") ?? 0
                headers = [:]
                return
            }
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return }
            let name = parts[0].lowercased()
            let value = String(parts[1].drop { $0 == " " || $0 == "\t" }.reversed().drop { $0.isWhitespace }.reversed())
            headers[name] = value
            if name == "retry-after" { retryAfter = Double(value) }
        }
    }
}
