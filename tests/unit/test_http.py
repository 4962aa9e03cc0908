"""save_body: a downloaded file appears under its name only when whole, and no .part stays behind.

The overall deadline: a server dripping its answer cannot hold a non-streaming call.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import responses

from movie_director.errors import ConnectionLost, MalformedResponse, ServiceError, Timeout
from movie_director.http import RETRY_AFTER_MAX_S, Deadline, call, probe_session, retry_policy, save_body
from movie_director_testing.processes import wait_until

URL = "http://127.0.0.1:9/file"


def fetch(**kwargs: object) -> requests.Response:
    responses.get(URL, **kwargs)  # type: ignore[arg-type]
    return requests.get(URL, stream=True, timeout=5)


@responses.activate
def test_a_whole_body_is_renamed_into_place(tmp_path: Path) -> None:
    seen: list[tuple[int, bytes]] = []
    size = save_body(fetch(body=b"x" * 1000), tmp_path / "a.bin", tmp_path / "a.bin.part", name="a.bin", check=lambda n, head: seen.append((n, head)))
    assert size == 1000 and (tmp_path / "a.bin").read_bytes() == b"x" * 1000
    assert seen == [(1000, b"x" * 512)] and sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


@responses.activate
def test_a_body_shorter_than_its_length_is_connection_lost(tmp_path: Path) -> None:
    response = fetch(body=b"12345", headers={"Content-Length": "10"}, auto_calculate_content_length=False)
    with pytest.raises(ConnectionLost):  # urllib3 or our own length check notices, whichever first
        save_body(response, tmp_path / "a.bin", tmp_path / "a.bin.part", name="a.bin", service="ComfyUI")
    assert list(tmp_path.iterdir()) == []


@responses.activate
def test_size_cap_and_check_refuse_without_leaving_anything(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="larger than the 10 bytes allowed"):
        save_body(fetch(body=bytes(100)), tmp_path / "a", tmp_path / "a.part", name="a", max_bytes=10)

    def refuse(size: int, head: bytes) -> None:
        raise MalformedResponse("not a video")

    with pytest.raises(MalformedResponse):
        save_body(fetch(body=b"<html>"), tmp_path / "b", tmp_path / "b.part", name="b", check=refuse)
    assert list(tmp_path.iterdir()) == []


def test_a_cut_stream_is_typed_and_ctrl_c_leaves_no_part(tmp_path: Path) -> None:
    class Cut:
        headers: dict[str, str] = {}

        def __init__(self, error: BaseException) -> None:
            self.error = error

        def iter_content(self, size: int) -> Iterator[bytes]:
            yield b"half"
            raise self.error

    with pytest.raises(ConnectionLost):
        save_body(Cut(requests.exceptions.ChunkedEncodingError("Connection broken")), tmp_path / "a", tmp_path / "a.part", name="a")  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        save_body(Cut(KeyboardInterrupt()), tmp_path / "a", tmp_path / "a.part", name="a")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# -- overall deadline -------------------------------------------------------------------------

#: One byte per DRIP_S: each read is quick, the whole answer is not.
DRIP_S = 0.05
BODY = b"x" * 200


class Dripper(socketserver.StreamRequestHandler):
    """Answers ``/slow_headers`` and ``/slow_body`` one byte at a time (``/short_body``: 20 bytes), ``/ok`` at once.

    ``/slow_closing_body`` says ``Connection: close``, which detaches the socket from its urllib3 connection.
    """

    stop: threading.Event

    def handle(self) -> None:
        path = self.rfile.readline().split(b" ")[1].decode()
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        body = BODY[:20] if path == "/short_body" else BODY
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n".encode()
        if path == "/slow_closing_body":
            head += b"Connection: close\r\n"
        answer = head + b"\r\n" + body
        slow_from = {"/slow_headers": len(b"HTTP/1.1 200 OK\r\n"), "/ok": len(answer)}.get(path, len(head) + 2)
        self.wfile.write(answer[:slow_from])
        try:
            for byte in answer[slow_from:]:  # bounded: 200 bytes take 10 s, far past any deadline here
                if self.stop.wait(DRIP_S):
                    return
                self.wfile.write(bytes([byte]))
        except OSError:  # the client gave up (its deadline shut the socket)
            pass


@pytest.fixture
def dripping_url() -> Iterator[str]:
    stop = threading.Event()
    handler = type("StoppableDripper", (Dripper,), {"stop": stop})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="dripping-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("path", ["/slow_headers", "/slow_body", "/slow_closing_body"])
def test_a_dripping_answer_ends_as_timeout_and_its_connection_is_not_reused(dripping_url: str, path: str) -> None:
    # Each byte comes well within the 0.3 s read timeout; only the overall deadline (0.6 s) can stop the
    # call before the whole 10 s answer arrives, and a whole answer would make pytest.raises fail.
    session = probe_session(dripping_url, 0.3)
    with pytest.raises(Timeout) as caught:
        call(session, "GET", dripping_url + path, service="Dripper")
    assert caught.value.code == "timeout"
    assert call(session, "GET", dripping_url + "/ok", service="Dripper").content == BODY


def test_a_streaming_request_reads_past_the_overall_deadline(dripping_url: str) -> None:
    # 20 bytes take 1 s, longer than the 0.6 s bound: stream=True callers own their reads.
    response = call(probe_session(dripping_url, 0.3), "GET", dripping_url + "/short_body", service="Dripper", stream=True)
    assert response.content == BODY[:20]


def test_a_connection_shut_by_its_deadline_is_not_pooled_again() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        conn, in_time = SimpleNamespace(sock=ours), SimpleNamespace(sock=None)
        deadline = Deadline(30)
        deadline.watch(in_time)  # type: ignore[arg-type]
        assert deadline.release(in_time) is False and deadline.stop() is False  # type: ignore[arg-type]
        deadline = Deadline(0.01)
        deadline.watch(conn)  # type: ignore[arg-type]
        wait_until(lambda: deadline.expired, 5, message="the deadline passed")
        assert deadline.release(conn) is True  # type: ignore[arg-type]
        assert peer.recv(1) == b""  # the socket was shut down: the peer sees the end


def test_a_long_retry_after_is_capped_on_every_urllib3_2() -> None:
    """Without urllib3 2.6.3's retry_after_max (Blender bundles 2.4.0): a far Retry-After waits RETRY_AFTER_MAX_S at most."""
    policy = retry_policy(3, 0.1)
    assert policy.parse_retry_after("3600") == RETRY_AFTER_MAX_S
    assert policy.parse_retry_after("2") == 2
    assert policy.new(total=1).parse_retry_after("3600") == RETRY_AFTER_MAX_S, "the copies urllib3 makes per attempt keep the cap"
