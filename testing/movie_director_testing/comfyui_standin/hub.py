"""The WebSocket side: connected sockets, the /ws handshake and ComfyUI's send rules.

Like ComfyUI's PromptServer, the worker thread calls `send_sync` and a publish loop on
the event loop delivers frames in order; `sid=None` broadcasts to every registered
socket. Sockets are registered by clientId, so a second socket with the same id
replaces the first in the registry, and when the first one closes it unregisters the
id, leaving the newer socket deaf. That quirk is reproduced on purpose.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import uuid
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any

import aiohttp
from aiohttp import web

from .media import Still

log = logging.getLogger("comfyui_standin")

SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}


class BinaryEvent(IntEnum):
    """The u32 big-endian type that starts every binary frame (2 is internal and never sent)."""

    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


class Hub:
    """Sockets by clientId plus the state ComfyUI keeps for reconnects (client_id, last_node_id)."""

    def __init__(self, queue_info: Callable[[], dict[str, Any]]) -> None:
        self.queue_info = queue_info
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.live: dict[web.WebSocketResponse, asyncio.Transport | None] = {}
        """Every open connection, including superseded ones the registry no longer reaches."""
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._messages: asyncio.Queue[tuple[Any, Any, str | None]] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's loop; call on that loop before anything is sent."""
        self._loop = loop
        self._messages = asyncio.Queue()

    def send_sync(self, event: str | BinaryEvent, data: Any, sid: str | None = None) -> None:
        """Queue a frame from any thread (the worker's only way to talk to clients)."""
        assert self._loop is not None and self._messages is not None, "Hub.bind() first"
        self._loop.call_soon_threadsafe(self._messages.put_nowait, (event, data, sid))

    async def publish_loop(self) -> None:
        assert self._messages is not None
        while True:
            event, data, sid = await self._messages.get()
            await self.send(event, data, sid)

    def supports_preview_metadata(self, sid: str | None) -> bool:
        flags = self.metadata.get(sid or "", {}).get("feature_flags", {})
        return flags.get("supports_preview_metadata", False) is True

    async def send(self, event: str | BinaryEvent, data: Any, sid: str | None = None) -> None:
        """Encode and deliver one event: JSON text, or a binary frame for the BinaryEvent types.

        Preview images are PNG-encoded here, on the event loop, as ComfyUI does.
        """
        if event == BinaryEvent.UNENCODED_PREVIEW_IMAGE:
            still: Still = data
            await self._send_binary(BinaryEvent.PREVIEW_IMAGE, struct.pack(">I", 2) + still.png(level=1), sid)
        elif event == BinaryEvent.PREVIEW_IMAGE_WITH_METADATA:
            still, metadata = data
            header = json.dumps({**metadata, "image_type": "image/png"}).encode()
            await self._send_binary(event, struct.pack(">I", len(header)) + header + still.png(level=1), sid)
        elif isinstance(event, BinaryEvent):
            await self._send_binary(event, data, sid)
        else:
            message = {"type": event, "data": data}
            await self._deliver(sid, lambda ws: ws.send_json(message))

    async def _send_binary(self, event: BinaryEvent, payload: bytes, sid: str | None) -> None:
        frame = struct.pack(">I", event) + payload
        await self._deliver(sid, lambda ws: ws.send_bytes(frame))

    async def _deliver(self, sid: str | None, send: Callable[[web.WebSocketResponse], Awaitable[None]]) -> None:
        if sid is None:
            targets = list(self.sockets.values())
        else:
            targets = [self.sockets[sid]] if sid in self.sockets else []
        for ws in targets:
            try:
                await send(ws)
            except (aiohttp.ClientError, ConnectionError) as error:
                log.warning("send error: %s", error)

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """The /ws handler: handshake, first `status` frame, feature flags, then read until closed."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId", "")
        if sid:
            self.sockets.pop(sid, None)
        else:
            sid = uuid.uuid4().hex
        self.sockets[sid] = ws
        self.metadata[sid] = {"feature_flags": {}}
        self.live[ws] = request.transport
        try:
            await self.send("status", {"status": self.queue_info(), "sid": sid}, sid)
            if self.client_id == sid and self.last_node_id is not None:
                await self.send("executing", {"node": self.last_node_id}, sid)
            first = True
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    first = await self._client_message(sid, message.data, first)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    log.warning("ws connection closed with exception %s", ws.exception())
        finally:
            self.sockets.pop(sid, None)
            self.metadata.pop(sid, None)
            self.live.pop(ws, None)
        return ws

    async def _client_message(self, sid: str, text: str, first: bool) -> bool:
        """Only a *first* feature_flags message gets a reply; returns the new `first` state.

        A message that fails to parse leaves `first` unchanged, as in ComfyUI.
        """
        try:
            data = json.loads(text)
            if first and data.get("type") == "feature_flags":
                self.metadata[sid]["feature_flags"] = data.get("data", {})
                await self.send("feature_flags", dict(SERVER_FEATURES), sid)
            return False
        except json.JSONDecodeError:
            log.warning("Invalid JSON received from client %s: %s", sid, text)
        except Exception as error:  # noqa: BLE001 - the real server logs and keeps reading
            log.error("Error processing WebSocket message: %s", error)
        return first

    def abort_all(self) -> None:
        """Drop every connection at the TCP level: clients see no close frame (like a killed server)."""
        for transport in list(self.live.values()):
            if transport is not None:
                transport.abort()

    async def send_garbage(self) -> None:
        """Fault injection: a text frame that is not JSON and a binary frame shorter than its type."""
        for ws in list(self.live):
            try:
                await ws.send_str("stand-in garbage: this is not JSON {")
                await ws.send_bytes(b"\x00\x01")
            except (aiohttp.ClientError, ConnectionError) as error:
                log.warning("send error: %s", error)
