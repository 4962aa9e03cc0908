"""The echo service itself: ``python -m md_echo.server --port N`` (stdlib only).

``GET /echo/health`` → ``{"service": "echo", "version": "1.0"}``;
``POST /echo`` → the JSON body sent, wrapped in ``{"echo": ...}``.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "1.0"


class EchoHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/echo/health":
            self._reply(200, {"service": "echo", "version": VERSION})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._reply(400, {"error": "body is not JSON"})
            return
        self._reply(200, {"echo": body})

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="A tiny JSON echo service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7070)
    args = parser.parse_args()
    ThreadingHTTPServer((args.host, args.port), EchoHandler).serve_forever()


if __name__ == "__main__":
    main()
