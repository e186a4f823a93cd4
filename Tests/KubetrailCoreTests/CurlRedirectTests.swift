import Foundation
import KubetrailCore
import KubetrailCurl
import Testing
import TestSupport

/// CurlHTTPClient (the agent's shipping and the CLI's `--server` commands) given a redirect: it
/// fails naming the Location, and the server the redirect points to never hears from it, so a
/// bearer token cannot be walked to another host.
@Suite(.serialized) struct CurlRedirectTests {
    /// `redirect PORT` answers 307 to 127.0.0.1:PORT; `record LOG` appends each request's
    /// Authorization header to LOG and answers 200.
    static let script = """
        import sys, http.server
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            def log_message(self, *args): pass
            def answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                if length: self.rfile.read(length)
                if sys.argv[1] == 'redirect':
                    self.send_response(307)
                    self.send_header('Location', 'http://127.0.0.1:%s%s' % (sys.argv[2], self.path))
                else:
                    with open(sys.argv[2], 'a') as log: log.write('%s\\n' % self.headers.get('Authorization'))
                    self.send_response(200)
                self.send_header('Content-Length', '0')
                self.end_headers()
            do_GET = answer
            do_POST = answer
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    @Test func aRedirectFailsNamingItsLocationAndIsNotFollowed() throws {
        let dir = try TemporaryDirectory()
        let log = dir.path("received.log")
        let target = Process(), redirecting = Process()
        let targetPort = try PythonServer.start(target, arguments: ["-c", Self.script, "record", log])
        defer { kill(target.processIdentifier, SIGKILL); target.waitUntilExit() }
        let redirectingPort = try PythonServer.start(redirecting, arguments: ["-c", Self.script, "redirect", String(targetPort)])
        defer { kill(redirecting.processIdentifier, SIGKILL); redirecting.waitUntilExit() }

        let client = try CurlHTTPClient()
        let headers = [("Authorization", "Bearer do-not-forward")]
        #expect(try client.post("http://127.0.0.1:\(targetPort)/direct", body: [1], headers: headers).status == 200)
        #expect((try? String(contentsOfFile: log, encoding: .utf8)) == "Bearer do-not-forward\n")
        try FileManager.default.removeItem(atPath: log)

        let requests: [(String, () throws -> CurlHTTPClient.Response)] = [
            ("post", { try client.post("http://127.0.0.1:\(redirectingPort)/v1/ingest", body: [1, 2, 3], headers: headers) }),
            ("stream", { try client.stream("http://127.0.0.1:\(redirectingPort)/v1/export", headers: headers) { _ in true } })
        ]
        for (name, request) in requests {
            do {
                let response = try request()
                Issue.record("\(name): a redirect came back as a response (\(response.status))")
            } catch let failure as CurlHTTPClient.Failure {
                #expect(failure.code == CurlHTTPClient.redirected, "\(name): \(failure)")
                #expect(failure.message.contains("answered 307, a redirect to http://127.0.0.1:\(targetPort)/v1/"), "\(name): \(failure)")
                #expect(!failure.isRetryable)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: log), "the redirect target was contacted")
    }
}
