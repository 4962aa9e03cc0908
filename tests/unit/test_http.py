"""save_body: a downloaded file appears under its name only when whole, and no .part stays behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses

from movie_director.errors import ConnectionLost, MalformedResponse, ServiceError
from movie_director.http import save_body

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
