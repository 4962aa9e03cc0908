"""Result files: safe names, no overwrites, verified downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from movie_director.errors import MalformedResponse
from movie_director.http import probe_session
from movie_director_plugins.gradio.files import download, file_url, find_files, replace_files, reserve_path, safe_name

ROOT = "http://127.0.0.1:7860/gradio_api"


def file_data(path: str = "/tmp/gradio/abc/clip.mp4", **extra: object) -> dict[str, object]:
    return {"path": path, "url": f"{ROOT}/file={path}", "meta": {"_type": "gradio.FileData"}, **extra}


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\evil\\..\\x.png", "x.png"),
        ("a red fox: in snow?.mp4", "a_red_fox_in_snow.mp4"),
        ("CON.mp4", "_CON.mp4"),
        ("...", "file"),
        ("renard_élégant.mp4", "renard_élégant.mp4"),
        ("x" * 300 + ".mp4", "x" * 116 + ".mp4"),  # 120 characters in all
    ],
)
def test_safe_name(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_reserve_path_never_overwrites(tmp_path: Path) -> None:
    first = reserve_path(tmp_path, "a.mp4")
    second = reserve_path(tmp_path, "a.mp4")
    assert (first.name, second.name) == ("a.mp4", "a_1.mp4")


def test_find_and_replace_files_inside_galleries() -> None:
    video = file_data()
    outputs = (0, [{"video": video, "caption": "fox"}], "text", {"path": 3})
    assert find_files(outputs) == [video]
    replaced = replace_files(outputs, {id(video): Path("/out/clip.mp4")})
    assert replaced == (0, [{"video": "/out/clip.mp4", "caption": "fox"}], "text", {"path": 3})


def test_file_url_only_trusts_this_servers_urls() -> None:
    assert file_url(file_data(), ROOT) == f"{ROOT}/file=/tmp/gradio/abc/clip.mp4"
    foreign = file_data(url="http://0.0.0.0:7860/gradio_api/file=/tmp/gradio/abc/clip.mp4")
    assert file_url(foreign, ROOT) == f"{ROOT}/file=/tmp/gradio/abc/clip.mp4"
    assert file_url(file_data(path="/tmp/a b.mp4", url=None), ROOT) == f"{ROOT}/file=/tmp/a%20b.mp4"


@responses.activate
def test_download_verifies_and_names_safely(tmp_path: Path) -> None:
    responses.get(f"{ROOT}/file=/tmp/gradio/abc/clip.mp4", body=b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")
    path = download(probe_session(ROOT, 5), file_data(orig_name="my clip?.mp4", size=12), ROOT, tmp_path)
    assert path == tmp_path / "my_clip.mp4" and path.read_bytes() == b"\x00\x00\x00\x18ftypmp42"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_clip.mp4"]


@pytest.mark.parametrize(
    ("body", "content_type", "size", "problem"),
    [
        (b"", "video/mp4", None, "empty file"),
        (b"<!DOCTYPE html><html>login</html>", "text/html", None, "web page"),
        (b"<html>oops</html>", "application/octet-stream", None, "web page"),
        (b"abc", "video/mp4", 10, "cut short"),
    ],
)
@responses.activate
def test_download_refuses_bad_files(tmp_path: Path, body: bytes, content_type: str, size: int | None, problem: str) -> None:
    responses.get(f"{ROOT}/file=/tmp/gradio/abc/clip.mp4", body=body, content_type=content_type)
    with pytest.raises(MalformedResponse, match=problem):
        download(probe_session(ROOT, 5), file_data(size=size), ROOT, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no half file, no reserved name left behind


@responses.activate
def test_download_of_a_missing_file_is_typed(tmp_path: Path) -> None:
    responses.get(f"{ROOT}/file=/tmp/gradio/abc/clip.mp4", json={"detail": "File not allowed: /tmp/gradio/abc/clip.mp4."}, status=403)
    with pytest.raises(Exception, match="File not allowed") as caught:
        download(probe_session(ROOT, 5), file_data(), ROOT, tmp_path)
    assert caught.value.code == "permission_denied"  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []
