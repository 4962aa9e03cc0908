"""ComfyUI WebSocket messages as typed events, decoded lazily and without ever raising.

Text frames are JSON ``{"type": ..., "data": ...}``; binary frames start with a u32
big-endian event type (PROTOCOLS.md, "ComfyUI WebSocket"). The reader thread sees
every frame, and a sampling step sends three (``progress_state``, a preview, then
``progress``), so decoding is lazy: the type is read from the frame's first bytes
(ComfyUI writes ``{"type": "<name>", ...`` with ``json.dumps``'s default separators),
and the JSON is parsed only when someone reads :attr:`ComfyUIEvent.data`. Anything else
falls back to a full parse. Unknown types come through as plain :class:`ComfyUIEvent` with
their data untouched; garbage becomes a ``malformed`` event, never an exception.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

FEATURE_FLAGS_MESSAGE = json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
"""Sent first on every socket so that previews come as type 4, with their prompt id."""

#: Text event types the job tracker understands (anything else passes through).
STATUS = "status"
EXECUTION_START = "execution_start"
EXECUTION_CACHED = "execution_cached"
EXECUTING = "executing"
PROGRESS = "progress"
PROGRESS_STATE = "progress_state"
EXECUTED = "executed"
EXECUTION_SUCCESS = "execution_success"
EXECUTION_ERROR = "execution_error"
EXECUTION_INTERRUPTED = "execution_interrupted"
FEATURE_FLAGS = "feature_flags"
#: Types we give to binary frames and to frames we could not decode.
PREVIEW_IMAGE = "preview_image"
PROGRESS_TEXT = "progress_text"
BINARY = "binary"
MALFORMED = "malformed"

BINARY_PREVIEW_IMAGE = 1
BINARY_TEXT = 3
BINARY_PREVIEW_IMAGE_WITH_METADATA = 4
IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}

_U32 = struct.Struct(">I")
_TYPE_PREFIXES = (b'{"type": "', b'{"type":"')
_EMPTY: Mapping[str, Any] = {}


class ComfyUIEvent:
    """One message: its ``type``, its ``data`` (decoded on first read) and a binary frame's bytes.

    Immutable once built; ``data`` of a frame that turns out not to be valid JSON is ``{}``.
    """

    __slots__ = ("_body", "_data", "_frame", "type")

    def __init__(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        payload: bytes = b"",
        *,
        frame: bytes | None = None,
        body: int = -1,
    ) -> None:
        """``data`` now, or ``frame`` to decode on first read; ``body`` is where a binary frame's payload starts."""
        self.type = type
        self._data = data
        if payload:
            frame, body = payload, 0
        self._frame = frame
        self._body = body

    @property
    def data(self) -> Mapping[str, Any]:
        if self._data is None:
            self._data = self._decode()
        return self._data

    @property
    def payload(self) -> bytes:
        """A binary frame's bytes after its headers (the image of a preview); ``b""`` for text frames."""
        frame = self._frame
        return bytes(frame[self._body :]) if self._body >= 0 and frame is not None else b""

    @property
    def prompt_id(self) -> str | None:
        value = self.data.get("prompt_id")
        return value if isinstance(value, str) else None

    def _decode(self) -> Mapping[str, Any]:
        frame = self._frame
        if frame is None:
            return _EMPTY
        try:
            data = json.loads(frame).get("data")
        except (ValueError, TypeError, AttributeError):
            log.debug("undecodable %s frame: %r", self.type, frame[:200])
            return _EMPTY
        if isinstance(data, dict):
            return data
        return {"value": data} if data is not None else _EMPTY

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r}, data={dict(self.data)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ComfyUIEvent):
            return NotImplemented
        return (self.type, dict(self.data), self.payload) == (other.type, dict(other.data), other.payload)

    __hash__ = None  # type: ignore[assignment]


class StatusEvent(ComfyUIEvent):
    __slots__ = ()

    @property
    def queue_remaining(self) -> int | None:
        status = self.data.get("status")
        info = status.get("exec_info") if isinstance(status, dict) else None
        value = info.get("queue_remaining") if isinstance(info, dict) else None
        return value if isinstance(value, int) else None

    @property
    def sid(self) -> str | None:
        return self.data.get("sid")


class ExecutionStartEvent(ComfyUIEvent):
    __slots__ = ()


class ExecutionCachedEvent(ComfyUIEvent):
    __slots__ = ()

    @property
    def nodes(self) -> list[str]:
        nodes = self.data.get("nodes")
        return [str(node) for node in nodes] if isinstance(nodes, list) else []


class ExecutingEvent(ComfyUIEvent):
    """``node`` is the node starting now; ``None`` means the prompt is over (its last frame).

    After a reconnect the server resends the running node *without* a prompt id.
    """

    __slots__ = ()

    @property
    def node(self) -> str | None:
        return _node(self.data.get("node"))


class ProgressEvent(ComfyUIEvent):
    __slots__ = ()

    @property
    def node(self) -> str | None:
        return _node(self.data.get("node"))

    @property
    def value(self) -> float:
        return _number(self.data.get("value"))

    @property
    def max(self) -> float:
        return _number(self.data.get("max"))


class ProgressStateEvent(ComfyUIEvent):
    __slots__ = ()

    @property
    def nodes(self) -> Mapping[str, Any]:
        nodes = self.data.get("nodes")
        return nodes if isinstance(nodes, dict) else _EMPTY


class ExecutedEvent(ComfyUIEvent):
    __slots__ = ()

    @property
    def node(self) -> str | None:
        return _node(self.data.get("node"))

    @property
    def output(self) -> Mapping[str, Any]:
        output = self.data.get("output")
        return output if isinstance(output, dict) else _EMPTY


class ExecutionSuccessEvent(ComfyUIEvent):
    __slots__ = ()


class _NodeStoppedEvent(ComfyUIEvent):
    """A run that ended at one node (error or interrupt): which node, of which class."""

    __slots__ = ()

    @property
    def node_id(self) -> str | None:
        return _node(self.data.get("node_id"))

    @property
    def node_type(self) -> str:
        return str(self.data.get("node_type") or "")


class ExecutionErrorEvent(_NodeStoppedEvent):
    """A node raised while running: which node, which exception, and the traceback lines."""

    __slots__ = ()

    @property
    def exception_type(self) -> str:
        return str(self.data.get("exception_type") or "")

    @property
    def exception_message(self) -> str:
        return str(self.data.get("exception_message") or "").strip()


class ExecutionInterruptedEvent(_NodeStoppedEvent):
    __slots__ = ()


class PreviewImageEvent(ComfyUIEvent):
    """A preview image: :attr:`payload` holds the encoded bytes, ``image_type`` their MIME type.

    Type 4 frames carry ``node_id``/``prompt_id`` in ``data``; legacy type 1 frames do not.
    """

    __slots__ = ()

    @property
    def image_type(self) -> str:
        return str(self.data.get("image_type") or "application/octet-stream")

    @property
    def node_id(self) -> str | None:
        return _node(self.data.get("node_id"))

    def _decode(self) -> Mapping[str, Any]:
        frame = self._frame
        if frame is None:
            return _EMPTY
        (kind,) = _U32.unpack_from(frame)
        if kind == BINARY_PREVIEW_IMAGE:
            (image_format,) = _U32.unpack_from(frame, 4)
            return {"image_type": IMAGE_FORMATS.get(image_format, "application/octet-stream")}
        try:
            metadata = json.loads(frame[8 : self._body])
        except ValueError:
            return _EMPTY
        return metadata if isinstance(metadata, dict) else _EMPTY


class ProgressTextEvent(ComfyUIEvent):
    """Progress text of a node (binary type 3); broadcast to every socket by the server."""

    __slots__ = ()

    @property
    def node_id(self) -> str:
        return str(self.data.get("node_id") or "")

    @property
    def text(self) -> str:
        return str(self.data.get("text") or "")

    def _decode(self) -> Mapping[str, Any]:
        frame = self._frame
        if frame is None:
            return _EMPTY
        return {"node_id": frame[8 : self._body].decode("utf-8", "replace"), "text": frame[self._body :].decode("utf-8", "replace")}


_TEXT_CLASSES: dict[str, type[ComfyUIEvent]] = {
    STATUS: StatusEvent,
    EXECUTION_START: ExecutionStartEvent,
    EXECUTION_CACHED: ExecutionCachedEvent,
    EXECUTING: ExecutingEvent,
    PROGRESS: ProgressEvent,
    PROGRESS_STATE: ProgressStateEvent,
    EXECUTED: ExecutedEvent,
    EXECUTION_SUCCESS: ExecutionSuccessEvent,
    EXECUTION_ERROR: ExecutionErrorEvent,
    EXECUTION_INTERRUPTED: ExecutionInterruptedEvent,
    FEATURE_FLAGS: ComfyUIEvent,
}


def parse_text(frame: bytes | str) -> ComfyUIEvent:
    """Decode one text frame; never raises (garbage becomes a ``malformed`` event).

    The type comes from the frame's first bytes when ComfyUI's layout is recognised
    (the JSON is then parsed on first access to ``data``); otherwise now.
    """
    raw = frame.encode("utf-8", "replace") if isinstance(frame, str) else frame
    for prefix in _TYPE_PREFIXES:
        if raw.startswith(prefix):
            start = len(prefix)
            end = raw.find(b'"', start)
            if end > start and b"\\" not in raw[start:end]:
                kind = raw[start:end].decode("utf-8", "replace")
                return _TEXT_CLASSES.get(kind, ComfyUIEvent)(kind, frame=raw)
            break
    return _parse_now(raw)


def _parse_now(raw: bytes) -> ComfyUIEvent:
    try:
        message = json.loads(raw)
        kind = message["type"]
        data = message.get("data")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return ComfyUIEvent(MALFORMED, {"reason": "not a JSON message with a type", "text": raw[:200].decode("utf-8", "replace")})
    if not isinstance(kind, str):
        return ComfyUIEvent(MALFORMED, {"reason": "the type is not a string", "text": raw[:200].decode("utf-8", "replace")})
    if not isinstance(data, dict):
        data = {"value": data} if data is not None else {}
    return _TEXT_CLASSES.get(kind, ComfyUIEvent)(kind, data)


def decode_binary(frame: bytes) -> ComfyUIEvent:
    """Decode one binary frame per its u32 type; unknown or short frames pass through."""
    size = len(frame)
    if size < 4:
        return ComfyUIEvent(MALFORMED, {"reason": "binary frame shorter than its type", "event_type": None, "bytes": size})
    (kind,) = _U32.unpack_from(frame)
    if size >= 8:
        if kind == BINARY_PREVIEW_IMAGE:
            return PreviewImageEvent(PREVIEW_IMAGE, frame=frame, body=8)
        if kind in (BINARY_PREVIEW_IMAGE_WITH_METADATA, BINARY_TEXT):
            (length,) = _U32.unpack_from(frame, 4)
            if 8 + length <= size:
                cls = PreviewImageEvent if kind == BINARY_PREVIEW_IMAGE_WITH_METADATA else ProgressTextEvent
                return cls(PREVIEW_IMAGE if kind == BINARY_PREVIEW_IMAGE_WITH_METADATA else PROGRESS_TEXT, frame=frame, body=8 + length)
    if kind in (BINARY_PREVIEW_IMAGE, BINARY_TEXT, BINARY_PREVIEW_IMAGE_WITH_METADATA):
        return ComfyUIEvent(MALFORMED, {"reason": f"binary frame of type {kind} is truncated", "event_type": kind, "bytes": size})
    return ComfyUIEvent(BINARY, {"event_type": kind}, frame=frame, body=4)


def _node(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


__all__ = [
    "ComfyUIEvent",
    "ExecutedEvent",
    "ExecutingEvent",
    "ExecutionCachedEvent",
    "ExecutionErrorEvent",
    "ExecutionInterruptedEvent",
    "ExecutionStartEvent",
    "ExecutionSuccessEvent",
    "PreviewImageEvent",
    "ProgressEvent",
    "ProgressStateEvent",
    "ProgressTextEvent",
    "StatusEvent",
    "decode_binary",
    "parse_text",
]
