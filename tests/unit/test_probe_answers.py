"""A probe tells "this is not kind X" from "this may be kind X, but it is busy, broken or slow".

A real loopback server answers every route with one status and body: a 503 with a JSON
message (a ComfyUI loading a model), a 429 with ``Retry-After``, a 404, or nothing at
all. ``check --kind X`` must report what the server said, never "a different program
answers" unless the answer really says so.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from movie_director.check import check_service
from movie_director.cli import main

KINDS = ("comfyui", "litellm", "openai", "wan2gp", "gradio")
LOADING = "model loading, try again in 30 s"


def answering(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> type[BaseHTTPRequestHandler]:
    payload = json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, name="probe-answers", daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("kind", KINDS)
def test_503_with_a_message_is_a_server_error_with_that_message(serve, kind: str) -> None:
    url = serve(answering(503, {"error": LOADING}))
    report = check_service(url, kind, timeout=2)
    assert report.error is not None and report.error.code == "server_error", report.error
    assert LOADING in report.error.message and report.error.details["status"] == 503


@pytest.mark.parametrize("kind", KINDS)
def test_429_is_rate_limited_with_its_retry_after(serve, kind: str) -> None:
    url = serve(answering(429, {"detail": "slow down"}, {"Retry-After": "7"}))
    report = check_service(url, kind, timeout=2)
    assert report.error is not None and report.error.code == "rate_limited", report.error
    assert "slow down" in report.error.message and report.error.details["retry_after"] == "7"


@pytest.mark.parametrize("kind", KINDS)
def test_404_everywhere_is_another_program(serve, kind: str) -> None:
    url = serve(answering(404, {"detail": "Not Found"}))
    report = check_service(url, kind, timeout=2)
    assert report.error is not None and report.error.code == "wrong_service", report.error


@pytest.mark.parametrize("kind", KINDS)
def test_a_silent_server_is_a_timeout(silent_url: str, kind: str) -> None:
    report = check_service(silent_url, kind, timeout=0.5)
    assert report.error is not None and report.error.code == "timeout", report.error


@pytest.mark.parametrize("kind", ("comfyui", "litellm"))
def test_check_command_reports_the_servers_words(serve, kind: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.touch()
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(empty))
    url = serve(answering(503, {"error": LOADING}))
    assert main(["check", url, "--json", "--kind", kind, "--timeout", "2"]) != 0
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "server_error" and LOADING in error["message"]
