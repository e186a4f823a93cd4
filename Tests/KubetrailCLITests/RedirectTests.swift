import Foundation
import Testing
import TestSupport

/// `--server` commands against an aggregator address that answers with a redirect to another
/// server: the token must not travel there. The second server records every request it gets,
/// with its Authorization header, so "not followed" is seen from the receiving end.
@Suite(.serialized) struct RedirectTests {
    /// A Python HTTP server: `redirect PORT CODE` answers every request with CODE and a
    /// Location on 127.0.0.1:PORT; `record LOG` appends each request to LOG and answers with a
    /// one-row `rows` stream, as an aggregator would.
    final class HTTPServer {
        static let script = """
            import sys, http.server
            mode = sys.argv[1]
            class Handler(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1'
                def log_message(self, *args): pass
                def answer(self):
                    length = int(self.headers.get('Content-Length') or 0)
                    if length: self.rfile.read(length)
                    if mode == 'redirect':
                        self.send_response(int(sys.argv[3]))
                        self.send_header('Location', 'http://127.0.0.1:%s%s' % (sys.argv[2], self.path))
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    with open(sys.argv[2], 'a') as log:
                        log.write('%s %s authorization=%s\\n' % (self.command, self.path, self.headers.get('Authorization')))
                    body = b'{"columns":[{"name":"n","type":"INTEGER"}]}\\n[1]\\n{"end":true}\\n'
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/x-ndjson')
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                do_GET = answer
                do_POST = answer
            server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
            print(server.server_address[1], flush=True)
            server.serve_forever()
            """
        let process = Process()
        let port: Int

        init(_ arguments: [String]) throws {
            port = try PythonServer.start(process, arguments: ["-c", Self.script] + arguments)
        }

        var url: String { "http://127.0.0.1:\(port)" }

        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test(arguments: [307, 302])
    func aRedirectIsAnErrorNamingItsLocationAndTheTokenStaysHome(code: Int) throws {
        let dir = try TemporaryDirectory()
        let log = dir.path("received.log")
        let elsewhere = try HTTPServer(["record", log])
        defer { elsewhere.stop() }
        let redirecting = try HTTPServer(["redirect", String(elsewhere.port), String(code)])
        defer { redirecting.stop() }
        let token = try dir.write("query.token", "secret-query-token\n")

        // The recorder is a working endpoint: the same commands pointed at it reach it.
        let direct = try Subprocess.kubetrail(["query", "--server", elsewhere.url, "--token-file", token, "--output", "csv", "SELECT 1"])
        #expect(direct.status == 0 && direct.stdout == "n\n1\n", "\(direct.stderr)")
        try FileManager.default.removeItem(atPath: log)

        let commands: [[String]] = [
            ["query", "--server", redirecting.url, "--token-file", token, "SELECT 1"],
            ["export", "--server", redirecting.url, "--token-file", token, "--table", "kubernetes_audit_logs", "--out", dir.path("export")],
            ["report", "--server", redirecting.url, "--token-file", token, "--out", dir.path("report.md")]
        ]
        for command in commands {
            let r = try Subprocess.kubetrail(command)
            #expect(r.status != 0, "\(command[0]) followed the redirect: \(r.stdout)")
            #expect(r.stderr.contains("answered \(code), a redirect to \(elsewhere.url)/"), "\(command[0]): \(r.stderr)")
            #expect(r.stderr.contains("does not follow redirects"), "\(command[0]): \(r.stderr)")
            #expect(!r.stderr.contains("secret-query-token"))
        }
        let received = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(received.isEmpty, "the redirect target was contacted: \(received)")
    }
}
