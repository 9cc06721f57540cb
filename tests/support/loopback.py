"""A loopback HTTP server that answers JSON-RPC as a test chooses (a node's error answers, garbage,
an HTTP status): a real server for the real client, never a mock of it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackNode:
    """A loopback HTTP server whose answer is chosen per test (status, body); counts requests."""

    def __init__(self, status=200, body=None):
        self.status, self.body, self.requests = status, body, []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(length))
                node.requests.append(req)
                body = node.body(req) if callable(node.body) else node.body
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(node.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
