import Foundation
import TestSupport

/// A small TLS (or plain) HTTP server standing in for kube-apiserver in client tests: it logs
/// every request's path, Authorization and Host headers, SNI name and client-certificate CN,
/// answers `/version`, streams three watch events, and refuses the token `bad-token` with 401.
final class FakeAPIServer: @unchecked Sendable {
    let process = Process()
    let port: Int
    let logPath: String

    init(dir: TemporaryDirectory, cert: String?, key: String?, clientCA: String?, allowSecrets: Bool = false) throws {
        logPath = dir.path("requests-\(UUID().uuidString).jsonl")
        let script = """
            import http.server, ssl, json, sys, socketserver, urllib.parse, os
            log = open(sys.argv[1], 'a')
            sni = {}
            NS = [{'metadata': {'name': 'ns%d' % i, 'uid': 'uid-ns%d' % i, 'resourceVersion': str(10 + i), 'creationTimestamp': '2026-11-27T10:00:00Z'}} for i in range(5)]
            watches = [0]
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1'
                def do_GET(self):
                    cn = None
                    if isinstance(self.connection, ssl.SSLSocket):
                        peer = self.connection.getpeercert()
                        if peer:
                            cn = dict(x[0] for x in peer['subject']).get('commonName')
                    auth = self.headers.get('Authorization')
                    log.write(json.dumps({'path': self.path, 'auth': auth, 'host': self.headers.get('Host'), 'cn': cn, 'accept': self.headers.get('Accept'),
                                          'sni': sni.get(id(self.connection))}) + '\\n'); log.flush()
                    if auth == 'Bearer bad-token':
                        return self.reply(401, b'{"kind":"Status","code":401}')
                    if self.path.startswith('/api/v1/namespaces'):
                        return self.namespaces()
                    if self.path.startswith('/api/v1/secrets') and os.environ.get('FAKE_ALLOW_SECRETS') == '1' and 'watch' not in self.path:
                        meta = 'as=PartialObjectMetadataList' in (self.headers.get('Accept') or '')
                        item = {'metadata': {'name': 'db-password', 'namespace': 'shop', 'uid': 'sec-1', 'resourceVersion': '3'}}
                        if meta:
                            item.update({'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1'})
                        else:
                            item.update({'data': {'password': 'c2VjcmV0LXZhbHVlLTQy'}, 'type': 'Opaque'})
                        kind = 'PartialObjectMetadataList' if meta else 'SecretList'
                        return self.reply(200, json.dumps({'kind': kind, 'apiVersion': 'v1', 'metadata': {'resourceVersion': '7'}, 'items': [item]}).encode())
                    if self.path.startswith('/api/v1/secrets') and os.environ.get('FAKE_ALLOW_SECRETS') != '1':
                        return self.reply(403, b'{"kind":"Status","code":403,"reason":"Forbidden","message":"secrets is forbidden: User cannot list resource secrets"}')
                    if self.path.startswith('/apis/networking.k8s.io/v1/ingresses'):
                        # A kind this cluster does not serve (an older or trimmed API server).
                        return self.reply(404, b'{"kind":"Status","code":404,"reason":"NotFound","message":"the server could not find the requested resource"}')
                    if 'watch=true' in self.path:
                        import time; time.sleep(1.5)
                        return self.stream([])
                    if self.path.startswith('/api/v1/events'):
                        ev = lambda i: {'metadata': {'name': 'web.%d' % i, 'namespace': 'shop', 'uid': 'ev-%d' % i, 'resourceVersion': str(i)},
                                        'involvedObject': {'kind': 'Pod', 'name': 'web', 'namespace': 'shop'}, 'reason': 'BackOff',
                                        'message': 'Back-off restarting failed container', 'type': 'Warning', 'count': 3,
                                        'firstTimestamp': '2026-11-27T10:00:00Z', 'lastTimestamp': '2026-11-27T10:05:00Z', 'source': {'component': 'kubelet'}}
                        return self.reply(200, json.dumps({'kind': 'EventList', 'apiVersion': 'v1', 'metadata': {'resourceVersion': '7'}, 'items': [ev(1), ev(2)]}).encode())
                    if self.path.startswith('/api/v1/pods') and 'watch' not in self.path:
                        pod = {'metadata': {'name': 'web', 'namespace': 'shop', 'uid': 'pod-1', 'resourceVersion': '5', 'creationTimestamp': '2026-11-27T10:00:00Z'},
                               'spec': {'nodeName': 'node-a'}, 'status': {'phase': 'Running'}}
                        return self.reply(200, json.dumps({'kind': 'PodList', 'apiVersion': 'v1', 'metadata': {'resourceVersion': '7'}, 'items': [pod]}).encode())
                    if (self.path.startswith('/api/') or self.path.startswith('/apis/')) and 'watch' not in self.path:
                        return self.reply(200, b'{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}')
                    if self.path.startswith('/api/v1/pods') and 'watch=1' in self.path:
                        self.send_response(200); self.send_header('Transfer-Encoding', 'chunked'); self.end_headers()
                        for i in range(3):
                            line = json.dumps({'type': 'ADDED', 'object': {'metadata': {'name': 'p%d' % i, 'resourceVersion': str(i + 1)}}}).encode() + b'\\n'
                            self.wfile.write(b'%x\\r\\n%s\\r\\n' % (len(line), line)); self.wfile.flush()
                        self.wfile.write(b'0\\r\\n\\r\\n'); return
                    self.reply(200, b'{"major":"1","minor":"32","gitVersion":"v1.32.0-fake"}')
                def stream(self, events):
                    self.send_response(200); self.send_header('Transfer-Encoding', 'chunked'); self.end_headers()
                    for e in events:
                        line = json.dumps(e).encode() + b'\\n'
                        self.wfile.write(b'%x\\r\\n%s\\r\\n' % (len(line), line)); self.wfile.flush()
                    self.wfile.write(b'0\\r\\n\\r\\n')
                def namespaces(self):
                    # A reflector's life: paginated list, a watch that ends, one that expires, relists.
                    q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                    ns = lambda n, rv: {'kind': 'Namespace', 'apiVersion': 'v1', 'metadata': {'name': n, 'uid': 'uid-' + n, 'resourceVersion': rv, 'creationTimestamp': '2026-11-27T10:00:00Z'}}
                    if q.get('watch') == ['true']:
                        watches[0] += 1
                        if watches[0] == 1:
                            return self.stream([{'type': 'ADDED', 'object': ns('ns5', '101')}, {'type': 'MODIFIED', 'object': ns('ns1', '102')},
                                                {'type': 'DELETED', 'object': ns('ns2', '103')},
                                                {'type': 'BOOKMARK', 'object': {'kind': 'Namespace', 'apiVersion': 'v1', 'metadata': {'resourceVersion': '104'}}}])
                        if watches[0] == 2:
                            return self.stream([{'type': 'ERROR', 'object': {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                                                'message': 'too old resource version: 104 (500)', 'reason': 'Expired', 'code': 410}}])
                        if watches[0] == 3:
                            return self.stream([{'type': 'ADDED', 'object': ns('ns9', '200')}])
                        import time; time.sleep(1.5)
                        return self.stream([])
                    rv = q.get('resourceVersion', [None])[0]
                    if rv not in (None, '0'):
                        return self.reply(410, b'{"kind":"Status","code":410,"reason":"Expired"}')
                    limit = int(q.get('limit', ['0'])[0])
                    start = int(q['continue'][0].split(':')[1]) if 'continue' in q else 0
                    page = NS[start:start + limit] if limit else NS
                    more = 'c:%d' % (start + limit) if limit and start + limit < len(NS) else ''
                    self.reply(200, json.dumps({'kind': 'NamespaceList', 'apiVersion': 'v1',
                                                'metadata': {'resourceVersion': '100', 'continue': more}, 'items': page}).encode())
                def reply(self, code, body):
                    self.send_response(code); self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
                daemon_threads = True
            s = S(('127.0.0.1', 0), H)
            if len(sys.argv) > 2:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(sys.argv[2], sys.argv[3])
                if len(sys.argv) > 4:
                    ctx.load_verify_locations(sys.argv[4]); ctx.verify_mode = ssl.CERT_OPTIONAL
                def remember(sock, name, _):
                    sni[id(sock)] = name
                ctx.sni_callback = remember
                s.socket = ctx.wrap_socket(s.socket, server_side=True)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """
        port = try PythonServer.start(
            process, arguments: ["-c", script, logPath] + [cert, key, clientCA].compactMap { $0 },
            environment: ["FAKE_ALLOW_SECRETS": allowSecrets ? "1" : "0"])
    }

    var requests: [[String: Any]] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)  // the test runner's blocked SIGTERM is inherited
        process.waitUntilExit()
    }
}

/// A CA, a server certificate for 127.0.0.1, one valid only for `fake.example`, and a client
/// certificate (CN=alice, O=devs).
func makeAPICertificates(in dir: TemporaryDirectory) throws {
    let ca = try TestCertificateAuthority(in: dir, subject: "/CN=fake-kube-ca")
    try ca.issue("server", subject: "/CN=kube-apiserver", extensions: ["subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth"])
    try ca.issue("named", subject: "/CN=fake.example", extensions: ["subjectAltName=DNS:fake.example", "extendedKeyUsage=serverAuth"])
    try ca.issue("client", subject: "/O=devs/CN=alice", extensions: ["extendedKeyUsage=clientAuth"])
}

/// A one-context kubeconfig for `server`, with extra cluster and user fields (YAML lines).
func writeKubeconfig(_ dir: TemporaryDirectory, server: String, cluster: String, user: String) throws -> String {
    try dir.write(
        "kc-\(UUID().uuidString)",
        """
        apiVersion: v1
        kind: Config
        current-context: x
        clusters:
        - name: c
          cluster:
            server: \(server)
        \(cluster.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        contexts:
        - name: x
          context: {cluster: c, user: u}
        users:
        - name: u
          user:
        \(user.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        """)
}
