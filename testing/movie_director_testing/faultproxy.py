"""A TCP relay on loopback that we control, for the fault-injection suite.

Put between a client and a real backend, it does to connections what networks do:
added latency, a bandwidth limit, a reset after N bytes, a blackhole (accepted, never
answered), a half-open link (the peer vanished without a FIN). It can also cut every
open connection at once, and slip WebSocket frames into a server's stream at a frame
boundary (garbage, oversize or lying frames the real server would never send)::

    with FaultProxy(comfyui_server.port) as proxy:
        client = ComfyUIClient(adhoc_service(proxy.url, "comfyui"))
        proxy.set(latency=0.2)                     # every chunk, both directions
        proxy.set(reset_after=100)                 # RST to the client after 100 bytes down
        proxy.inject(ws_frame(b"not json"))        # into every upgraded connection
        proxy.cut()                                # abort every open connection now

Faults apply at once to open connections and to new ones; byte counts are per
connection. One selector thread relays everything (no thread per connection), so the
relay adds one thread to a test whatever the load, and joins it on :meth:`close`.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from movie_director_testing.processes import LOOPBACK, wait_until

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
#: Bytes read per recv, and the most a direction buffers before it stops reading (backpressure).
CHUNK = 65536
MAX_BUFFERED = 4 * 1024 * 1024
#: Longest sleep of the relay loop when nothing is due (it wakes at once on traffic or a command).
IDLE_WAKE = 0.5


@dataclass(frozen=True)
class Faults:
    """What the relay does to traffic; the default relays faithfully."""

    latency: float = 0.0
    """Seconds added to every chunk, in both directions."""
    bandwidth: float | None = None
    """Bytes per second, per direction and connection."""
    reset_after: int | None = None
    """After this many bytes sent to the client, reset (RST) it and drop the backend side."""
    half_open_after: int | None = None
    """After this many bytes sent to the client, relay nothing more either way and drop the
    backend side, but keep the client's socket open: a peer that vanished without a FIN."""
    blackhole: bool = False
    """New connections are accepted, read and never answered (the backend is not contacted)."""


def ws_frame(payload: bytes = b"", opcode: int = OPCODE_TEXT, length: int | None = None) -> bytes:
    """One unmasked (server-to-client) WebSocket frame; ``length`` lets the header lie."""
    size = len(payload) if length is None else length
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


class FrameCursor:
    """Follows WebSocket frame boundaries in a byte stream (either direction, masked or not)."""

    def __init__(self) -> None:
        self._header = b""
        self._remaining = 0

    @property
    def at_boundary(self) -> bool:
        return not self._header and self._remaining == 0

    def split(self, data: bytes) -> list[tuple[bytes, bool]]:
        """``data`` in pieces; a piece flagged True ends exactly at a frame boundary."""
        pieces: list[tuple[bytes, bool]] = []
        start = index = 0
        while index < len(data):
            if self._remaining:
                taken = min(self._remaining, len(data) - index)
                index += taken
                self._remaining -= taken
            else:
                self._header += data[index : index + 1]
                index += 1
                size = _header_size(self._header)
                if size is None or len(self._header) < size:
                    continue
                self._remaining = _payload_length(self._header)
                self._header = b""
            if self.at_boundary:
                pieces.append((data[start:index], True))
                start = index
        if start < len(data):
            pieces.append((data[start:], False))
        return pieces


def _header_size(header: bytes) -> int | None:
    if len(header) < 2:
        return None
    length7 = header[1] & 0x7F
    extended = 2 if length7 == 126 else 8 if length7 == 127 else 0
    return 2 + extended + (4 if header[1] & 0x80 else 0)


def _payload_length(header: bytes) -> int:
    length7 = header[1] & 0x7F
    if length7 == 126:
        return int.from_bytes(header[2:4], "big")
    if length7 == 127:
        return int.from_bytes(header[2:10], "big")
    return length7


@dataclass
class _Direction:
    """One way of a link: bytes read from ``src`` waiting (with their due time) to go to ``dst``."""

    pending: deque[tuple[float, bytes]] = field(default_factory=deque)
    buffered: int = 0
    eof: bool = False
    shut: bool = False
    blocked: bool = False
    tokens: float = 0.0
    refilled: float = 0.0

    def push(self, due: float, data: bytes) -> None:
        if data:
            self.pending.append((due, data))
            self.buffered += len(data)


class _Link:
    """One client connection and its backend connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client = client
        self.upstream = upstream
        self.up = _Direction()
        self.down = _Direction()
        self.sent_down = 0
        self.frozen = upstream is None
        #: None until the first response head shows whether this is a WebSocket (101).
        self.frames: FrameCursor | None = None
        self.head = b""
        self.plain = False
        self.injections: list[bytes] = []
        self.masks: dict[socket.socket, int] = {}


class FaultProxy:
    """Relays ``127.0.0.1:<port>`` to ``target`` with :class:`Faults` applied; see the module doc."""

    def __init__(self, target: int | tuple[str, int], *, host: str = LOOPBACK, port: int = 0) -> None:
        self.target = (LOOPBACK, target) if isinstance(target, int) else target
        self.faults = Faults()
        self.accepted = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._links: list[_Link] = []
        self._commands: queue.SimpleQueue[tuple[Callable[[], None], threading.Event]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._listener = socket.create_server((host, port))
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.port}", daemon=True)

    # -- control (any thread) ------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._listener.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._links)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def set(self, **changes: object) -> Faults:
        """Change some faults (e.g. ``set(latency=0.2)``); returns the faults now in force."""
        self.faults = replace(self.faults, **changes)  # type: ignore[arg-type]
        self._wake()
        return self.faults

    def clear(self) -> None:
        """Relay faithfully again."""
        self.set(**vars(Faults()))

    def cut(self, reset: bool = True) -> int:
        """Abort every open connection now (RST, or a plain close); returns how many."""

        def cut_all() -> None:
            count[0] = len(self._links)
            for link in list(self._links):
                self._drop(link, reset)

        count = [0]
        self._call(cut_all)
        return count[0]

    def inject(self, *frames: bytes) -> int:
        """Send ``frames`` to the client of every open WebSocket at its next frame boundary; returns how many."""

        def add() -> None:
            for link in self._links:
                if link.frames is not None:
                    link.injections.extend(frames)
                    count[0] += 1
                    self._flush_injections(link)

        count = [0]
        self._call(add)
        return count[0]

    def wait_idle(self, timeout: float) -> None:
        """Wait until no connection is open (every client closed its side)."""
        wait_until(lambda: not self._links, timeout, message="fault proxy idle")

    def close(self) -> None:
        """Close every connection and the listener, and join the relay thread."""
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(5)
        else:
            self._teardown()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FaultProxy {self.url} -> {self.target[0]}:{self.target[1]} {self.faults}>"

    def _call(self, action: Callable[[], None]) -> None:
        done = threading.Event()
        self._commands.put((action, done))
        self._wake()
        if not done.wait(5):
            raise TimeoutError("the fault proxy did not carry out a command within 5 s")

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- relay loop (its own thread) ------------------------------------------------------

    def _run(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while not self._stopping.is_set():
                self._run_commands()
                for link in list(self._links):
                    self._pump(link)
                for link in list(self._links):
                    self._update_interest(link)
                for key, mask in self._selector.select(self._next_wake()):
                    self._on_ready(key.fileobj, key.data, mask)  # type: ignore[arg-type]
        finally:
            self._teardown()

    def _run_commands(self) -> None:
        while True:
            try:
                action, done = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                action()
            finally:
                done.set()

    def _on_ready(self, sock: socket.socket, link: _Link | None, mask: int) -> None:
        if sock is self._wake_r:
            with contextlib.suppress(OSError):
                sock.recv(4096)
        elif sock is self._listener:
            self._accept()
        elif link is not None and link in self._links:
            if mask & selectors.EVENT_WRITE:
                (link.down if sock is link.client else link.up).blocked = False
            if mask & selectors.EVENT_READ:
                self._read(link, sock)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        upstream = None
        if not self.faults.blackhole:
            try:
                upstream = socket.create_connection(self.target, timeout=2.0)
            except OSError:
                _abort(client)  # the backend is down: the client sees its connection reset
                return
            upstream.setblocking(False)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._links.append(_Link(client, upstream))

    def _read(self, link: _Link, sock: socket.socket) -> None:
        try:
            data = sock.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            self._drop(link, reset=True)
            return
        if sock is link.client:
            if link.frozen:
                if not data:
                    self._drop(link, reset=False)
                return  # read and forgotten: nobody is there any more
            if not data:
                link.up.eof = True
                return
            self.bytes_up += len(data)
            link.up.push(time.monotonic() + self.faults.latency, data)
            return
        due = time.monotonic() + self.faults.latency
        if not data:
            link.down.eof = True
            link.down.push(due, link.head)  # a response head the backend never finished
            link.head = b""
            return
        self._queue_down(link, data, due)

    def _queue_down(self, link: _Link, data: bytes, due: float) -> None:
        """Queue backend bytes for the client, noticing a WebSocket upgrade and frame boundaries."""
        if link.frames is None and not link.plain:
            link.head += data
            end = link.head.find(b"\r\n\r\n")
            if end < 0 and len(link.head) < CHUNK:
                return  # the response head is still incomplete
            head, data = (link.head[: end + 4], link.head[end + 4 :]) if end >= 0 else (link.head, b"")
            link.head = b""
            link.down.push(due, head)
            if head.startswith(b"HTTP/1.1 101"):
                link.frames = FrameCursor()
            else:
                link.plain = True
        if link.frames is None:
            link.down.push(due, data)
            return
        for piece, at_boundary in link.frames.split(data):
            link.down.push(due, piece)
            if at_boundary:
                self._flush_injections(link, due)

    def _flush_injections(self, link: _Link, due: float | None = None) -> None:
        if link.frames is not None and link.frames.at_boundary and link.injections:
            for frame in link.injections:
                link.down.push(due if due is not None else time.monotonic(), frame)
            link.injections.clear()

    def _pump(self, link: _Link) -> None:
        """Send what is due, within the bandwidth, stopping at a reset or half-open point."""
        faults = self.faults
        if not link.frozen and faults.half_open_after is not None and link.sent_down >= faults.half_open_after:
            self._freeze(link)
        if link not in self._links or link.frozen:
            return
        for direction, dst in ((link.up, link.upstream), (link.down, link.client)):
            assert dst is not None
            if not self._send_due(link, direction, dst, faults):
                return
            if direction.eof and not direction.pending and not direction.shut:
                direction.shut = True
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
        if link.up.shut and link.down.shut:
            self._drop(link, reset=False)

    def _send_due(self, link: _Link, direction: _Direction, dst: socket.socket, faults: Faults) -> bool:
        """False when the link ended (reset, error)."""
        now = time.monotonic()
        if faults.bandwidth:
            direction.tokens = min(faults.bandwidth * 0.1 + 1, direction.tokens + (now - (direction.refilled or now)) * faults.bandwidth)
            direction.refilled = now
        while direction.pending and not direction.blocked and direction.pending[0][0] <= now:
            due, data = direction.pending[0]
            allowed = len(data)
            if faults.bandwidth:
                allowed = min(allowed, int(direction.tokens))
            limit = faults.reset_after if faults.reset_after is not None else faults.half_open_after
            if direction is link.down and limit is not None:
                allowed = min(allowed, max(0, limit - link.sent_down))
            if allowed <= 0:
                break
            try:
                sent = dst.send(data[:allowed])
            except BlockingIOError:
                direction.blocked = True
                break
            except OSError:
                self._drop(link, reset=True)
                return False
            if faults.bandwidth:
                direction.tokens -= sent
            direction.buffered -= sent
            if direction is link.down:
                link.sent_down += sent
                self.bytes_down += sent
            if sent < len(data):
                direction.pending[0] = (due, data[sent:])
            else:
                direction.pending.popleft()
        if direction is link.down and faults.reset_after is not None and link.sent_down >= faults.reset_after:
            self._drop(link, reset=True)
            return False
        return True

    def _freeze(self, link: _Link) -> None:
        link.frozen = True
        if link.upstream is not None:
            self._unregister(link, link.upstream)
            _close(link.upstream)
            link.upstream = None

    def _next_wake(self) -> float:
        now = time.monotonic()
        wake = now + IDLE_WAKE
        for link in self._links:
            if link.frozen:
                continue
            for direction in (link.up, link.down):
                if direction.pending and not direction.blocked:
                    due = direction.pending[0][0]
                    if self.faults.bandwidth and direction.tokens < 1:
                        due = max(due, now + (1 - direction.tokens) / self.faults.bandwidth)
                    wake = min(wake, max(due, now))
        return max(0.0, wake - now)

    def _update_interest(self, link: _Link) -> None:
        wanted: dict[socket.socket, int] = {link.client: 0}
        if link.frozen:
            wanted[link.client] = selectors.EVENT_READ
        else:
            assert link.upstream is not None
            wanted[link.upstream] = 0
            if not link.up.eof and link.up.buffered < MAX_BUFFERED:
                wanted[link.client] |= selectors.EVENT_READ
            if not link.down.eof and link.down.buffered < MAX_BUFFERED:
                wanted[link.upstream] |= selectors.EVENT_READ
            if link.up.blocked:
                wanted[link.upstream] |= selectors.EVENT_WRITE
            if link.down.blocked:
                wanted[link.client] |= selectors.EVENT_WRITE
        for sock, mask in wanted.items():
            current = link.masks.get(sock, 0)
            if mask == current:
                continue
            if current and mask:
                self._selector.modify(sock, mask, link)
            elif mask:
                self._selector.register(sock, mask, link)
            else:
                self._selector.unregister(sock)
            link.masks[sock] = mask

    def _unregister(self, link: _Link, sock: socket.socket) -> None:
        if link.masks.pop(sock, 0):
            self._selector.unregister(sock)

    def _drop(self, link: _Link, reset: bool) -> None:
        if link not in self._links:
            return
        self._links.remove(link)
        for sock in (link.client, link.upstream):
            if sock is None:
                continue
            self._unregister(link, sock)
            if reset:
                _abort(sock)
            else:
                _close(sock)

    def _teardown(self) -> None:
        for link in list(self._links):
            self._drop(link, reset=True)
        with contextlib.suppress(Exception):
            self._selector.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            _close(sock)


def _abort(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer or a firewall would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


__all__ = ["OPCODE_BINARY", "OPCODE_TEXT", "FaultProxy", "Faults", "FrameCursor", "ws_frame"]
