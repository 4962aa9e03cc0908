"""The fault proxy itself: each fault does what it says on the wire (raw sockets and requests)."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from movie_director_testing.faultproxy import OPCODE_BINARY, OPCODE_TEXT, FaultProxy, FrameCursor, ws_frame
from movie_director_testing.misbehaving import DEFAULT_BODY, MisbehavingServer
from movie_director_testing.processes import wait_until


@pytest.fixture
def upstream():
    with MisbehavingServer("ok") as server:
        yield server


@pytest.fixture
def proxy(upstream):
    with FaultProxy(upstream.port) as relay:
        yield relay


def get(url: str, timeout: float = 2.0) -> requests.Response:
    with requests.Session() as session:
        return session.get(url + "/thing", timeout=timeout)


def test_relays_faithfully_and_counts(proxy, upstream) -> None:
    assert get(proxy.url).content == DEFAULT_BODY
    # The relay thread counts a chunk after sending it: the client can hold the whole
    # answer before the count is updated, so read the counters once the link is closed.
    proxy.wait_idle(5)
    assert proxy.accepted == 1 and proxy.bytes_down > len(DEFAULT_BODY) and proxy.bytes_up > 0
    assert upstream.count("GET", "/thing") == 1


def test_latency_delays_both_directions(proxy) -> None:
    proxy.set(latency=0.2)
    started = time.monotonic()
    assert get(proxy.url).ok
    assert time.monotonic() - started >= 0.4


def test_bandwidth_limits_the_rate(proxy) -> None:
    proxy.set(bandwidth=4000)
    started = time.monotonic()
    assert get(proxy.url).content == DEFAULT_BODY
    assert time.monotonic() - started >= (len(DEFAULT_BODY) - 400) / 4000


def test_reset_after_n_bytes_sends_an_rst(proxy) -> None:
    proxy.set(reset_after=100)
    with socket.create_connection((proxy.host, proxy.port), timeout=2) as client:
        client.sendall(b"GET /thing HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        with pytest.raises(ConnectionResetError):
            for _ in range(100):
                chunk = client.recv(65536)
                if not chunk:
                    break
                received += chunk
        assert len(received) <= 100


def test_half_open_keeps_the_client_socket_open_and_silent(proxy, upstream) -> None:
    proxy.set(half_open_after=50)
    with socket.create_connection((proxy.host, proxy.port), timeout=0.5) as client:
        client.sendall(b"GET /thing HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        with pytest.raises(TimeoutError):
            for _ in range(100):
                chunk = client.recv(65536)
                assert chunk, "half-open means no FIN either"
                received += chunk
        assert len(received) == 50
        client.sendall(b"more")  # still accepted: nobody says the link is gone
    assert upstream.count("GET", "/thing") == 1


def test_blackhole_accepts_and_never_contacts_the_backend(proxy, upstream) -> None:
    proxy.set(blackhole=True)
    with pytest.raises(requests.ReadTimeout):
        get(proxy.url, timeout=0.3)
    assert proxy.accepted == 1 and upstream.hits == []


def test_cut_aborts_every_open_connection(proxy) -> None:
    proxy.set(half_open_after=0)
    with socket.create_connection((proxy.host, proxy.port), timeout=2) as client:
        client.sendall(b"GET /thing HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: proxy.open_connections == 1, 5, message="the proxy took the connection")  # accept runs on its own thread
        assert proxy.cut() == 1
        with pytest.raises(ConnectionResetError):
            client.recv(10)
    assert proxy.open_connections == 0


def test_a_refused_backend_resets_the_client(upstream) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with FaultProxy(port) as proxy, pytest.raises(requests.ConnectionError):
        get(proxy.url)


def test_frame_headers_in_every_length_form() -> None:
    assert ws_frame(b"hi") == b"\x81\x02hi"
    assert ws_frame(b"x" * 200, OPCODE_BINARY)[:4] == b"\x82\x7e\x00\xc8"
    assert ws_frame(length=1 << 40)[:2] == b"\x81\x7f" and len(ws_frame(length=1 << 40)) == 10


def test_frame_cursor_finds_boundaries_across_reads() -> None:
    stream = ws_frame(b"a" * 3, OPCODE_TEXT) + ws_frame(b"b" * 300, OPCODE_BINARY) + ws_frame(b"") + b"\x89\x80" + b"mask"  # masked empty ping
    cursor = FrameCursor()
    boundaries, offset = [], 0
    for size in (1, 4, 2, 150, 200, 1, 3, 100):
        chunk, stream = stream[:size], stream[size:]
        for piece, at_boundary in cursor.split(chunk):
            offset += len(piece)
            if at_boundary:
                boundaries.append(offset)
    assert boundaries == [5, 5 + 304, 5 + 304 + 2, 5 + 304 + 2 + 6]
    assert cursor.at_boundary and stream == b""
