"""Server-sent events decoded incrementally from the bytes of a streaming HTTP response.

The one SSE reader: LiteLLM's streamed chat and the MCP client's event-stream answers.

The network hands us arbitrary slices of the stream: an event may arrive in several
reads, several events in one read, and a multi-byte UTF-8 character may be cut in two.
The decoder keeps what is incomplete until the rest arrives, so callers only ever see
whole events (WHATWG "server-sent events" rules: ``data``/``event``/``id`` fields,
``:`` comments such as LiteLLM's ``: ping`` keep-alives, CRLF, CR or LF line ends).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Only these end a line: str.splitlines() would also split on U+2028 and friends,
# which JSON may carry unescaped inside a string.
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched server-sent event."""

    data: str
    event: str = "message"
    id: str = ""


class SSEDecoder:
    """Feed raw bytes as they arrive; get back the events they complete."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Events completed by ``chunk`` (possibly none)."""
        self._text += self._utf8.decode(chunk)
        if not self._started and self._text:
            self._started = True
            self._text = self._text.removeprefix("\ufeff")
        return self._lines(final=False)

    def close(self) -> list[ServerSentEvent]:
        """At a clean end of stream: the last event, even without its closing blank line."""
        self._text += self._utf8.decode(b"", final=True)
        events = self._lines(final=True)
        if self._text:
            events += self._line(self._text)
            self._text = ""
        return events + self._line("")

    def _lines(self, final: bool) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        start = 0
        for match in _LINE_END.finditer(self._text):
            # A trailing CR may be the first half of a CRLF split across reads.
            if match.group() == "\r" and match.end() == len(self._text) and not final:
                break
            events += self._line(self._text[start : match.start()])
            start = match.end()
        self._text = self._text[start:]
        return events

    def _line(self, line: str) -> list[ServerSentEvent]:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return []
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        return []

    def _dispatch(self) -> list[ServerSentEvent]:
        if not self._data:
            self._event = ""
            return []
        event = ServerSentEvent("\n".join(self._data), self._event or "message", self._last_id)
        self._data, self._event = [], ""
        return [event]


def iter_events(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """The events of a byte stream, each yielded as soon as its last byte arrives."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()
