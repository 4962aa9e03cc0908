"""The SSE decoder gives whole events however the network slices the bytes."""

from __future__ import annotations

import pytest

from movie_director.sse import ServerSentEvent, SSEDecoder, iter_events

STREAM = (
    'data: {"choices":[{"delta":{"content":"Ça "}}]}\r\n\r\n'
    ": ping\r\n\r\n"
    'data: {"choices":[{"delta":{"content":"tourne ✓ 🎬"}}]}\r\n\r\n'
    "data: [DONE]\r\n\r\n"
).encode()
EXPECTED = [
    ServerSentEvent('{"choices":[{"delta":{"content":"Ça "}}]}'),
    ServerSentEvent('{"choices":[{"delta":{"content":"tourne ✓ 🎬"}}]}'),
    ServerSentEvent("[DONE]"),
]


def test_whole_stream_in_one_read() -> None:
    assert list(iter_events([STREAM])) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_every_split_point_gives_the_same_events(cut: int) -> None:
    # covers cuts inside multi-byte characters (ç, ✓, 🎬), inside CRLF and inside "data:"
    assert list(iter_events([STREAM[:cut], STREAM[cut:]])) == EXPECTED


def test_one_byte_per_read() -> None:
    assert list(iter_events(STREAM[i : i + 1] for i in range(len(STREAM)))) == EXPECTED


def test_events_are_given_as_soon_as_their_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.feed(b"\ndata: tw") == [ServerSentEvent("one")]
    assert decoder.feed(b"o\n\n") == [ServerSentEvent("two")]


def test_crlf_split_after_cr_is_one_line_end() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"data: a\r") + decoder.feed(b"\ndata: b\r") + decoder.feed(b"\n\r\n")
    assert events == [ServerSentEvent("a\nb")]


def test_multi_line_data_event_name_id_and_comments() -> None:
    stream = b"\xef\xbb\xbf: comment\nevent: error\nid: 7\ndata: first\ndata:second\nretry: 10\n\ndata: next\n\n"
    assert list(iter_events([stream])) == [ServerSentEvent("first\nsecond", "error", "7"), ServerSentEvent("next", "message", "7")]


def test_line_separator_characters_stay_inside_data() -> None:
    # JSON may carry U+2028 unescaped; only CR and LF end a line
    assert list(iter_events(['data: {"t":"a\u2028b\x85c"}\n\n'.encode()])) == [ServerSentEvent('{"t":"a\u2028b\x85c"}')]


def test_last_event_without_blank_line_is_kept_at_a_clean_end() -> None:
    assert list(iter_events([b"data: [DONE]"])) == [ServerSentEvent("[DONE]")]
    assert list(iter_events([b"data: x\r"])) == [ServerSentEvent("x")]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert list(iter_events([b"\n\nevent: ping\n\n: only a comment\n\n"])) == []


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert list(iter_events([b"data: \xff\n\n"])) == [ServerSentEvent("\ufffd")]
