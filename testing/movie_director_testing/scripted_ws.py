"""A tiny threaded WebSocket server on loopback that plays scripted frames.

For the ComfyUI plugin's unit tests and its benchmark: a test writes what the server sends
(``handler(peer)``), down to pre-encoded byte streams, dropped connections and
refused handshakes, without the asyncio stand-in process. Speaks just enough of
RFC 6455: unmasked server frames, masked client frames, pings answered.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from collections.abc import Callable
from typing import Self
from urllib.parse import parse_qsl, urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def encode_frame(opcode: int, payload: bytes | str) -> bytes:
    """One unmasked, final server frame."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    length = len(data)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + data


class Peer:
    """One accepted client connection, as the handler sees it."""

    def __init__(self, sock: socket.socket, path: str, headers: dict[str, str], pending: bytes = b"") -> None:
        self.sock = sock
        self.path = urlsplit(path).path
        self.query = dict(parse_qsl(urlsplit(path).query))
        self.headers = headers
        self.received: list[tuple[int, bytes]] = []
        self.pings = 0
        #: Set False to play a link that swallows pings (a dead proxy).
        self.answer_pings = True
        self._buffer = pending  # bytes the client sent right after its handshake
        self._send_lock = threading.Lock()

    def send_text(self, text: str) -> None:
        self.send_raw(encode_frame(TEXT, text))

    def send_binary(self, data: bytes) -> None:
        self.send_raw(encode_frame(BINARY, data))

    def send_raw(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def receive(self, timeout: float) -> tuple[int, bytes] | None:
        """The next text/binary/close frame from the client (pings are answered), or None."""
        self.sock.settimeout(timeout)
        try:
            for _ in range(1000):
                opcode, payload = self._read_frame()
                if opcode == PING:
                    self.pings += 1
                    if self.answer_pings:
                        self.send_raw(encode_frame(PONG, payload))
                    continue
                if opcode == PONG:
                    continue
                self.received.append((opcode, payload))
                return opcode, payload
        except (OSError, ConnectionError):
            return None
        return None

    def wait_closed(self, timeout: float) -> bool:
        """Read (answering pings) until the client closes; True if it did within ``timeout``."""
        for _ in range(10_000):
            frame = self.receive(timeout)
            if frame is None or frame[0] == CLOSE:
                return frame is not None or self._eof()
        return False

    def close(self, code: int = 1000) -> None:
        """A clean close frame, then the TCP connection."""
        try:
            self.send_raw(encode_frame(CLOSE, struct.pack("!H", code)))
        except OSError:
            pass
        self.drop()

    def drop(self) -> None:
        """Cut the TCP connection without a close frame, as a killed server does."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _eof(self) -> bool:
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("client closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _read_frame(self) -> tuple[int, bytes]:
        first, second = self._read_exact(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        mask = self._read_exact(4) if second & 0x80 else b""
        payload = self._read_exact(length)
        if mask:
            key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
            payload = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")
        return first & 0x0F, payload


Handler = Callable[[Peer], None]


class ScriptedWebSocketServer:
    """Accept connections on a free loopback port and run ``handler(peer)`` for each.

    ``reject_status`` answers every handshake with that HTTP status instead (a proxy
    that blocks upgrades). The handler's connection is closed when it returns.
    """

    def __init__(self, handler: Handler, reject_status: int | None = None, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.reject_status = reject_status
        self.peers: list[Peer] = []
        self.handshakes = 0
        self._listener = socket.create_server((host, 0))
        self.host = host
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._accepter = threading.Thread(target=self._accept_loop, name="scripted-ws-accept", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> Self:
        self._accepter.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and cut every connection (callable from a handler, too)."""
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self._listener.close()
        for peer in list(self.peers):
            peer.drop()
        for thread in [self._accepter, *self._threads]:
            if thread is not threading.current_thread() and thread.ident is not None:
                thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), name="scripted-ws-peer", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(10.0)
        try:
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    sock.close()
                    return
                request += chunk
            head, _, rest = request.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
            self.handshakes += 1
            if self.reject_status is not None:
                sock.sendall(f"HTTP/1.1 {self.reject_status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
                sock.close()
                return
            accept = base64.b64encode(hashlib.sha1((headers.get("sec-websocket-key", "") + GUID).encode()).digest()).decode()
            sock.sendall(
                f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode()
            )
        except OSError:
            sock.close()
            return
        peer = Peer(sock, path, headers, rest)
        self.peers.append(peer)
        try:
            self.handler(peer)
        except (OSError, ConnectionError):
            pass
        finally:
            peer.close()


__all__ = ["BINARY", "CLOSE", "PING", "PONG", "TEXT", "Peer", "ScriptedWebSocketServer", "encode_frame"]
