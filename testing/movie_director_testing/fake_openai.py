"""A tiny OpenAI-compatible server on loopback that streams its answer slowly, for tests.

LiteLLM's ``mock_response`` streams a whole answer in a few milliseconds, too fast to
kill the proxy mid-answer. Pointed at this server (``launch_litellm_proxy(upstream_url=
fake.api_base)`` adds the model ``upstream-gpt``), the proxy relays one word every
``chunk_delay`` seconds. It is also "some other OpenAI-compatible server" for probe
tests; with ``cut_after`` it drops the connection mid-stream by itself, and with
``stream_bytes`` it sends exactly those HTTP chunks (to split an event, a line ending or
a UTF-8 character across reads).

Standard library only; runs in a thread of the test process::

    with FakeOpenAI(chunk_delay=0.05) as fake:
        requests.get(fake.api_base + "/models", timeout=5)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from movie_director_testing.processes import LOOPBACK

MODEL = "up-model"
REPLY = " ".join(f"Take {number}: the camera glides along the quay while the extras hold their marks." for number in range(1, 21))


class FakeOpenAI:
    """``/v1/models`` and ``/v1/chat/completions`` (whole or streamed word by word)."""

    def __init__(
        self,
        reply: str = REPLY,
        chunk_delay: float = 0.05,
        cut_after: int | None = None,
        stream_bytes: Sequence[bytes] | None = None,
        port: int = 0,
    ) -> None:
        self.reply = reply
        self.chunk_delay = chunk_delay
        self.cut_after = cut_after
        self.stream_bytes = stream_bytes
        #: What clients sent: method, path, JSON body, and ``peer`` (a new one means a new connection).
        self.requests: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((LOOPBACK, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    @property
    def api_base(self) -> str:
        return self.url + "/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def words(self) -> list[str]:
        return re.findall(r"\S+\s*", self.reply)

    def wait(self, seconds: float) -> bool:
        """Sleep between chunks; True when the server is stopping."""
        return self._stopping.wait(seconds)


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            """Quiet: tests read ``fake.requests`` instead."""

        def do_GET(self) -> None:
            fake.requests.append({"method": "GET", "path": self.path, "peer": self.client_address})
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "fake"}]})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error", "code": "404"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append({"method": "POST", "path": self.path, "body": body, "peer": self.client_address})
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error", "code": "404"}})
            elif body.get("stream"):
                self._stream(body)
            else:
                message = {"role": "assistant", "content": fake.reply}
                self._json(200, _completion("chat.completion", [{"index": 0, "message": message, "finish_reason": "stop"}], _usage(fake)))

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                if fake.stream_bytes is not None:
                    for data in fake.stream_bytes:
                        self._chunk(data)
                    self._chunk(b"")
                    return
                for number, word in enumerate(fake.words()):
                    if fake.cut_after is not None and number >= fake.cut_after:
                        self.close_connection = True
                        return  # no terminating chunk: the client sees a broken stream
                    self._event(_completion("chat.completion.chunk", [{"index": 0, "delta": {"content": word}}]))
                    if fake.wait(fake.chunk_delay):
                        return
                self._event(_completion("chat.completion.chunk", [{"index": 0, "delta": {}, "finish_reason": "stop"}]))
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event(_completion("chat.completion.chunk", [], _usage(fake)))
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client (or the proxy in front) went away

        def _event(self, payload: dict[str, Any]) -> None:
            self._chunk(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def _completion(obj: str, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": "chatcmpl-fake", "object": obj, "created": int(time.time()), "model": MODEL, "choices": choices}
    if usage is not None:
        payload["usage"] = usage
    return payload


def _usage(fake: FakeOpenAI) -> dict[str, int]:
    completion = len(fake.words())
    return {"prompt_tokens": 7, "completion_tokens": completion, "total_tokens": 7 + completion}
