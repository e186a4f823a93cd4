import Foundation
import Testing
import TestSupport
@testable import KubetrailKube

/// `proxy-url`: our client and kubectl reach a TLS API server through the same HTTP proxy, with
/// a CONNECT tunnel to the same address, and TLS still verified end to end.
@Suite(.serialized) struct ProxyTests {
    /// A CONNECT-only forward proxy that logs each tunnel it opens.
    final class TunnelProxy {
        let process = Process()
        let port: Int
        let logPath: String

        init(dir: TemporaryDirectory) throws {
            logPath = dir.path("proxy-\(UUID().uuidString).log")
            let script = """
                import socket, sys, threading, select
                log = open(sys.argv[1], 'a')
                def pump(a, b):
                    try:
                        while True:
                            r, _, _ = select.select([a, b], [], [], 30)
                            if not r: return
                            for s in r:
                                data = s.recv(65536)
                                if not data: return
                                (b if s is a else a).sendall(data)
                    finally:
                        a.close(); b.close()
                def handle(c):
                    head = b''
                    while b'\\r\\n\\r\\n' not in head:
                        chunk = c.recv(4096)
                        if not chunk: c.close(); return
                        head += chunk
                    line = head.split(b'\\r\\n')[0].decode()
                    log.write(line + '\\n'); log.flush()
                    method, target, _ = line.split(' ', 2)
                    if method != 'CONNECT':
                        c.sendall(b'HTTP/1.1 405 Method Not Allowed\\r\\nContent-Length: 0\\r\\n\\r\\n'); c.close(); return
                    host, port = target.rsplit(':', 1)
                    upstream = socket.create_connection((host, int(port)))
                    c.sendall(b'HTTP/1.1 200 Connection established\\r\\n\\r\\n')
                    pump(c, upstream)
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('127.0.0.1', 0)); s.listen(16)
                print(s.getsockname()[1], flush=True)
                while True:
                    c, _ = s.accept()
                    threading.Thread(target=handle, args=(c,), daemon=True).start()
                """
            port = try PythonServer.start(process, arguments: ["-c", script, logPath])
        }

        var tunnels: [String] {
            ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test func proxyURLTunnelsAsKubectlDoesAndTLSIsStillVerified() throws {
        let dir = try TemporaryDirectory()
        try makeAPICertificates(in: dir)
        let server = try FakeAPIServer(dir: dir, cert: dir.path("server.pem"), key: dir.path("server.key"), clientCA: nil)
        defer { server.stop() }
        let proxy = try TunnelProxy(dir: dir)
        defer { proxy.stop() }
        func config(ca: String) throws -> String {
            try writeKubeconfig(
                dir, server: "https://127.0.0.1:\(server.port)",
                cluster: "certificate-authority: \(ca)\nproxy-url: http://127.0.0.1:\(proxy.port)",
                user: "token: through-the-proxy")
        }
        let good = try config(ca: dir.path("ca.pem"))
        let reply = try KubeClient(connection: try MergedKubeconfig.load(explicit: good, environment: [:]).connection()).get("/version")
        #expect(reply.status == 200 && reply.text.contains("v1.32.0-fake"))
        #expect(proxy.tunnels == ["CONNECT 127.0.0.1:\(server.port) HTTP/1.1"])
        let kubectl = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/kubectl"), ["--kubeconfig", good, "get", "--raw", "/version"],
            environment: ["HOME": "/nonexistent-home"])
        #expect(kubectl.status == 0, "\(kubectl.stderr)")
        // kubectl may open more than one tunnel; each goes to the same place as ours.
        #expect(proxy.tunnels.count >= 2 && Set(proxy.tunnels) == ["CONNECT 127.0.0.1:\(server.port) HTTP/1.1"], "\(proxy.tunnels)")
        let requests = server.requests
        #expect(requests.count >= 2 && requests.allSatisfy { $0["auth"] as? String == "Bearer through-the-proxy" })

        // The tunnel does not weaken verification: a CA that did not sign the server fails.
        let other = try TemporaryDirectory()
        try makeAPICertificates(in: other)
        let wrong = try config(ca: other.path("ca.pem"))
        #expect(throws: KubeClient.Failure.self) {
            _ = try KubeClient(connection: try MergedKubeconfig.load(explicit: wrong, environment: [:]).connection()).get("/version")
        }
    }
}
