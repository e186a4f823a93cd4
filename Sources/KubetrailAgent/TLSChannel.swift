import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// TLS on a connected socket, with OpenSSL: the peer's chain verified against the CA file (or
/// the system's store), and its certificate checked for the host name or IP address the URL
/// gives. TLS 1.2 at least. The CA file is read for each new connection, so a rotated CA
/// needs no restart.
final class TLSChannel: ByteChannel {
    private let socket: SocketChannel
    private let context: OpaquePointer
    private let ssl: OpaquePointer

    init(over socket: SocketChannel, endpoint: HTTPEndpoint, caFile: String?, deadline: Double) throws(TransportFailure) {
        self.socket = socket
        let peer = socket.peer
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw Self.failure(peer, "cannot create a TLS context", retryable: false) }
        guard copenssl_require_tls12(context) == 1 else {
            SSL_CTX_free(context)
            throw Self.failure(peer, "cannot require TLS 1.2", retryable: false)
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        copenssl_ignore_unexpected_eof(context)
        let loaded = caFile.map { SSL_CTX_load_verify_locations(context, $0, nil) } ?? SSL_CTX_set_default_verify_paths(context)
        guard loaded == 1 else {
            SSL_CTX_free(context)
            throw Self.failure(peer, "cannot load the CA bundle \(caFile ?? "(system)")", retryable: false)
        }
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            throw Self.failure(peer, "cannot create a TLS session", retryable: false)
        }
        self.context = context
        self.ssl = ssl
        // From here deinit frees both.
        let named: Bool
        if endpoint.hostIsAddress {
            named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), endpoint.host) == 1
        } else {
            named = SSL_set1_host(ssl, endpoint.host) == 1 && copenssl_set_server_name(ssl, endpoint.host) == 1
        }
        guard named, SSL_set_fd(ssl, socket.fd) == 1 else { throw Self.failure(peer, "cannot set the TLS peer name", retryable: false) }
        while true {
            let rc = SSL_connect(ssl)
            if rc == 1 { return }
            try step(rc, deadline: deadline, doing: "complete the TLS handshake")
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Double) throws(TransportFailure) -> Int {
        while true {
            let rc = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
            if rc > 0 { return Int(rc) }
            if SSL_get_error(ssl, rc) == SSL_ERROR_ZERO_RETURN { return 0 }
            try step(rc, deadline: deadline, doing: "read the reply")
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, deadline: Double) throws(TransportFailure) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let rc = SSL_write(ssl, bytes.baseAddress! + offset, Int32(clamping: bytes.count - offset))
            if rc > 0 {
                offset += Int(rc)
                continue
            }
            // As on a plain socket: an answer before the whole request was taken is read, not
            // lost to a failed send. The connection is not used again after it.
            switch SSL_get_error(ssl, rc) {
            case SSL_ERROR_WANT_WRITE:
                if try SocketChannel.waitToSend(socket.fd, until: deadline, peer: socket.peer) == .answered { return false }
            case SSL_ERROR_SYSCALL where socket.isStale:
                ERR_clear_error()
                return false
            default:
                try step(rc, deadline: deadline, doing: "send the request")
            }
        }
        return true
    }

    var isStale: Bool { socket.isStale }

    /// Waits when OpenSSL needs the socket ready; throws for anything else.
    private func step(_ rc: Int32, deadline: Double, doing what: String) throws(TransportFailure) {
        let peer = socket.peer
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ:
            try SocketChannel.wait(socket.fd, for: Int16(POLLIN), until: deadline, peer: peer, doing: what)
        case SSL_ERROR_WANT_WRITE:
            try SocketChannel.wait(socket.fd, for: Int16(POLLOUT), until: deadline, peer: peer, doing: what)
        case SSL_ERROR_SYSCALL:
            let code = errno
            ERR_clear_error()
            throw Self.failure(peer, "connection lost while trying to \(what)" + (code != 0 ? ": \(String(cString: strerror(code)))" : ""), retryable: true)
        default:
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                ERR_clear_error()
                throw Self.failure(peer, "TLS certificate not trusted: \(String(cString: X509_verify_cert_error_string(verify)))", retryable: false)
            }
            throw Self.failure(peer, "TLS error while trying to \(what): \(Self.openSSLError())", retryable: false)
        }
    }

    private static func failure(_ peer: String, _ text: String, retryable: Bool) -> TransportFailure {
        TransportFailure("\(peer): \(text)", retryable: retryable)
    }

    /// OpenSSL's queued errors, oldest first, and the queue emptied.
    private static func openSSLError() -> String {
        var messages: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "unknown" : messages.joined(separator: "; ")
    }
}
