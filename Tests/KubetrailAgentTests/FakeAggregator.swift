import Foundation
import TestSupport

/// Something at the aggregator's address that is not the aggregator: it answers every POST with
/// one status and body, `{auth}` in the body replaced by the Authorization header it was sent.
final class FakeAggregator: @unchecked Sendable {
    let process = Process()
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    init(status: Int, body: String) throws {
        let script = """
            import http.server, sys
            STATUS, BODY = int(sys.argv[1]), sys.argv[2]
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1'
                def do_POST(self):
                    self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    body = BODY.replace('{auth}', self.headers.get('Authorization', '')).encode()
                    self.send_response(STATUS); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """
        port = try PythonServer.start(process, arguments: ["-c", script, String(status), body])
    }

    func stop() {
        // SIGKILL: the test runner's threads block SIGTERM, and children inherit that mask.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { stop() } }
}
