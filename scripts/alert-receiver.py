#!/usr/bin/env python3
"""An alert receiver for tests: Alertmanager's POST /api/v2/alerts and any webhook path.

Prints its port on the first line. Every POST is appended to --record as one JSON line:
{"path": …, "authorization": …, "body": <the parsed JSON body>}. While the file --down exists
it answers 503 (a sink that is down) and records nothing.
"""
import argparse, http.server, json, os, socketserver, sys, threading

parser = argparse.ArgumentParser()
parser.add_argument('--record', required=True)
parser.add_argument('--down', required=True)
args = parser.parse_args()
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        if os.path.exists(args.down):
            return self.answer(503, '{"error":"down"}')
        try:
            parsed = json.loads(body)
        except ValueError:
            return self.answer(400, '{"error":"not JSON"}')
        with lock, open(args.record, 'a') as f:
            f.write(json.dumps({'path': self.path, 'authorization': self.headers.get('Authorization'), 'body': parsed}) + '\n')
        self.answer(200, '{}')

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

server = Server(('127.0.0.1', 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
