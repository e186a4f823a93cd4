import CCurl
import Foundation
import KubetrailCore

/// An HTTP client for the Kubernetes API on libcurl, configured from a `ClusterConnection` the
/// way client-go configures its transport: the CA from a file or in memory, no verification only
/// when asked, `tls-server-name` as the name verified and sent in SNI (the Host header stays the
/// URL's), `proxy-url`, and credentials only over TLS — client certificates (file or in memory,
/// never written to disk), a bearer token (static, from a file re-read each minute, or from an
/// exec plugin), or basic auth. A 401 refreshes file and plugin tokens and is returned to the
/// caller, as client-go does.
public final class KubeClient: @unchecked Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// What an error reply says: a `Status` object's message, else the start of the body.
        public var errorText: String {
            if let status = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
                let message = status["message"] as? String
            {
                return message
            }
            return String(text.prefix(300))
        }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public let connection: ClusterConnection
    private let tokenFile: FileTokenSource?
    private let exec: ExecCredentials?
    private let lock = NSLock()
    private static let globalInit: Void = { _ = ccurl_global_init_default() }()

    public init(connection: ClusterConnection) {
        _ = Self.globalInit
        self.connection = connection
        tokenFile = connection.tokenFile.map { FileTokenSource(path: $0, fallback: connection.token) }
        exec = connection.exec.map { ExecCredentials(config: $0, connection: connection) }
    }

    /// GET `path` (with its query) and the whole reply, at most `maxBytes`.
    public func get(_ path: String, accept: String = "application/json", maxBytes: Int = 256 << 20, timeout: Double = 60) throws -> Response {
        var body: [UInt8] = []
        var overflow = false
        let status = try perform(path, accept: accept, timeout: timeout) { chunk in
            if body.count + chunk.count > maxBytes { overflow = true; return false }
            body.append(contentsOf: chunk)
            return true
        }
        if overflow { throw Failure(description: "GET \(path): reply larger than \(maxBytes) bytes") }
        return Response(status: status, body: body)
    }

    /// GET `path` and hand each complete line of the reply to `onLine` as it arrives (watch
    /// events, followed logs); `onLine` returns false to stop. `tick` runs after each chunk of
    /// lines and about once a second while the stream is idle, so a caller can commit what it
    /// holds or stop a quiet stream by returning false. Returns the HTTP status; the body of a
    /// non-2xx reply is delivered as lines too.
    @discardableResult
    public func stream(
        _ path: String, accept: String = "application/json", timeout: Double = 0, maxLineBytes: Int = 16 << 20,
        deliverUnterminatedTail: Bool = true,
        tick: () -> Bool = { true }, onLine: (UnsafeRawBufferPointer) -> Bool
    ) throws -> Int {
        var pending: [UInt8] = []
        var stopped = false
        var oversized = false
        // A stop from the idle path must also keep a half-received line from being handed on.
        func guardedTick() -> Bool {
            if tick() { return true }
            stopped = true
            return false
        }
        let status = try perform(path, accept: accept, timeout: timeout, tick: guardedTick) { chunk in
            chunk.withUnsafeBytes { raw -> Bool in
                var start = 0
                while start < raw.count, let nl = raw[start...].firstIndex(of: 0x0A) {
                    if pending.count + (nl - start) > maxLineBytes { oversized = true; return false }
                    let ok: Bool
                    if pending.isEmpty {
                        ok = onLine(UnsafeRawBufferPointer(rebasing: raw[start..<nl]))
                    } else {
                        pending.append(contentsOf: raw[start..<nl])
                        ok = pending.withUnsafeBytes { onLine($0) }
                        pending.removeAll(keepingCapacity: true)
                    }
                    if !ok { stopped = true; return false }
                    start = nl + 1
                }
                pending.append(contentsOf: raw[start...])
                if pending.count > maxLineBytes { oversized = true; return false }
                if !guardedTick() { return false }
                return true
            }
        }
        if oversized { throw Failure(description: "GET \(path): a line of the reply is longer than \(maxLineBytes) bytes") }
        if deliverUnterminatedTail, !stopped, !pending.isEmpty { _ = pending.withUnsafeBytes { onLine($0) } }
        return status
    }

    /// One request; `onData` receives the body in chunks and may stop it by returning false.
    private func perform(
        _ path: String, accept: String, timeout: Double, tick: () -> Bool = { true },
        onData: ([UInt8]) -> Bool
    ) throws -> Int {
        guard let handle = curl_easy_init() else { throw Failure(description: "libcurl could not create a handle") }
        defer { curl_easy_cleanup(handle) }
        let https = connection.server.lowercased().hasPrefix("https://")
        var base = connection.server
        while base.hasSuffix("/") { base.removeLast() }
        var url = base + (path.hasPrefix("/") ? path : "/" + path)
        var headers = [("Accept", accept), ("User-Agent", "kubetrail/1")]
        var connectTo: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(connectTo) }
        if https, let name = connection.tlsServerName, let parsed = URLComponents(string: url), let host = parsed.host {
            // Verify (and send SNI for) tls-server-name while connecting to the URL's address;
            // the Host header keeps the URL's host, as client-go does.
            let port = parsed.port ?? 443
            var rewritten = parsed
            rewritten.host = name
            url = rewritten.string ?? url
            let bracketed = host.contains(":") ? "[\(host)]" : host
            connectTo = curl_slist_append(nil, "\(name):\(port):\(bracketed):\(port)")
            headers.append(("Host", parsed.port.map { "\(bracketed):\($0)" } ?? bracketed))
        }
        var credential: ExecCredentials.Credential?
        var usedFileToken = false
        if https {
            if let exec {
                let c = try exec.current()
                credential = c
                if let token = c.token { headers.append(("Authorization", "Bearer " + token)) }
            } else if let tokenFile {
                headers.append(("Authorization", "Bearer " + (try tokenFile.current())))
                usedFileToken = true
            } else if let token = connection.token {
                headers.append(("Authorization", "Bearer " + token))
            } else if let basic = connection.basicAuth {
                headers.append(("Authorization", "Basic " + Data("\(basic.user):\(basic.password)".utf8).base64EncodedString()))
            }
        }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        for (k, v) in headers { list = curl_slist_append(list, "\(k): \(v)") }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        errorBuffer[0] = 0
        _ = ccurl_setopt_str(handle, CURLOPT_URL, url)
        _ = ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        if let connectTo { _ = ccurl_setopt_slist(handle, CURLOPT_CONNECT_TO, connectTo) }
        _ = ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 10_000)
        // A followed log or a watch can be quiet for minutes: keepalive probes notice a peer (or a
        // load balancer's mapping) that vanished, instead of waiting on it forever.
        _ = ccurl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_TCP_KEEPIDLE, 30)
        _ = ccurl_setopt_long(handle, CURLOPT_TCP_KEEPINTVL, 15)
        if timeout > 0 { _ = ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout * 1000)) }
        _ = ccurl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        if !connection.disableCompression { _ = ccurl_setopt_str(handle, CURLOPT_ACCEPT_ENCODING, "gzip") }
        _ = ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, connection.insecureSkipTLSVerify ? 0 : 1)
        _ = ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, connection.insecureSkipTLSVerify ? 0 : 2)
        switch connection.certificateAuthority {
        case .file(let path)?: _ = ccurl_setopt_str(handle, CURLOPT_CAINFO, path)
        case .data(let pem)?: _ = pem.withUnsafeBytes { ccurl_setopt_blob(handle, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) }
        case nil: break
        }
        if let proxy = connection.proxyURL { _ = ccurl_setopt_str(handle, CURLOPT_PROXY, proxy) }
        if https {
            let cert: ClusterConnection.Material? = credential?.clientCertificatePEM.map { .data(Array($0.utf8)) } ?? connection.clientCertificate
            let key: ClusterConnection.Material? = credential?.clientKeyPEM.map { .data(Array($0.utf8)) } ?? connection.clientKey
            switch cert {
            case .file(let path)?: _ = ccurl_setopt_str(handle, CURLOPT_SSLCERT, path)
            case .data(let pem)?: _ = pem.withUnsafeBytes { ccurl_setopt_blob(handle, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) }
            case nil: break
            }
            switch key {
            case .file(let path)?: _ = ccurl_setopt_str(handle, CURLOPT_SSLKEY, path)
            case .data(let pem)?: _ = pem.withUnsafeBytes { ccurl_setopt_blob(handle, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) }
            case nil: break
            }
        }
        try withoutActuallyEscaping(onData) { escapable in
            try withoutActuallyEscaping(tick) { escapableTick in
                let sink = DataSink(escapable, tick: escapableTick)
                try withExtendedLifetime(sink) {
                    let box = Unmanaged.passUnretained(sink).toOpaque()
                    _ = ccurl_setopt_writefunction(handle) { ptr, size, count, user in
                        let s = Unmanaged<DataSink>.fromOpaque(user!).takeUnretainedValue()
                        let n = size * count
                        let bytes = Array(UnsafeRawBufferPointer(start: ptr, count: n))
                        return s.deliver(bytes) ? n : 0
                    }
                    _ = ccurl_setopt_ptr(handle, CURLOPT_WRITEDATA, box)
                    _ = ccurl_setopt_xferinfofunction(handle) { user, _, _, _, _ in
                        Unmanaged<DataSink>.fromOpaque(user!).takeUnretainedValue().idle() ? 0 : 1
                    }
                    _ = ccurl_setopt_ptr(handle, CURLOPT_XFERINFODATA, box)
                    _ = ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
                    let rc = curl_easy_perform(handle)
                    let stopped = sink.stoppedByCaller && (rc == CURLE_WRITE_ERROR || rc == CURLE_ABORTED_BY_CALLBACK)
                    if rc != CURLE_OK && !stopped {
                        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(rc))
                        throw Failure(description: "GET \(connection.server)\(path): \(detail)")
                    }
                }
            }
        }
        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if status == 401 {
            if let credential { exec?.refused(credential) }
            if usedFileToken { tokenFile?.refused() }
        }
        return status
    }
}

/// Carries libcurl's body callbacks to a Swift closure for the duration of one request.
private final class DataSink {
    let onData: ([UInt8]) -> Bool
    let tick: () -> Bool
    var stoppedByCaller = false
    init(_ onData: @escaping ([UInt8]) -> Bool, tick: @escaping () -> Bool) {
        self.onData = onData
        self.tick = tick
    }
    /// libcurl's progress callback: also called while data flows, so it is rate-limited to
    /// the quiet moments that matter (the chunk path ticks on its own).
    func idle() -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastIdle >= 500_000_000 else { return true }
        lastIdle = now
        if tick() { return true }
        stoppedByCaller = true
        return false
    }
    private var lastIdle: UInt64 = DispatchTime.now().uptimeNanoseconds
    func deliver(_ bytes: [UInt8]) -> Bool {
        if onData(bytes) { return true }
        stoppedByCaller = true
        return false
    }
}
