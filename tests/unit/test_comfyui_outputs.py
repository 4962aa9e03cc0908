"""Output files: listed from history, downloaded with safe names and checked sizes; uploads."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from movie_director.errors import ConnectionLost, InvalidSetting, MalformedResponse, NotFound, ServiceError
from movie_director_plugins.comfyui.outputs import OutputFile, UploadedFile, download, output_files, relative_path, upload

VIEW = "http://127.0.0.1:8188/view"
UPLOAD = "http://127.0.0.1:8188/upload/image"


def test_output_files_lists_every_file_and_skips_other_values() -> None:
    outputs = {
        "3": {"images": [{"filename": "probe_00001_.png", "subfolder": "", "type": "output"}], "animated": [False]},
        "5": {"gifs": [{"filename": "clip.mp4", "subfolder": "probe/sub", "type": "output", "format": "video/h264-mp4"}]},
        "7": {"images": [{"filename": "ComfyUI_temp_hyiht_00001_.png", "subfolder": "", "type": "temp"}], "text": ["hello"]},
        "8": "odd",
    }
    assert output_files(outputs) == [
        OutputFile("3", "probe_00001_.png", "", "output", "images"),
        OutputFile("5", "clip.mp4", "probe/sub", "output", "gifs"),
        OutputFile("7", "ComfyUI_temp_hyiht_00001_.png", "", "temp", "images"),
    ]


def test_relative_paths_keep_subfolders_and_separate_types() -> None:
    assert str(relative_path(OutputFile("3", "x.png", "probe/sub"))) == "probe/sub/x.png"
    assert str(relative_path(OutputFile("3", "x.png", type="temp"))) == "temp/x.png"
    assert str(relative_path(OutputFile("3", "probe_up (1).png"))) == "probe_up (1).png"


@pytest.mark.parametrize(
    ("filename", "subfolder"),
    [
        ("../../x.png", ""),
        ("/etc/passwd", ""),
        ("..", ""),
        ("", ""),
        ("x.png", "../../etc"),
        ("x.png", "a/../../b"),
        ("..\\..\\x.png", ""),
        ("C:evil.png", ""),
        ("x.png", "sub\x00"),
    ],
)
def test_names_that_could_escape_the_folder_are_refused(filename: str, subfolder: str) -> None:
    with pytest.raises(MalformedResponse, match="outside the output folder") as caught:
        relative_path(OutputFile("3", filename, subfolder))
    assert caught.value.details["file"]["filename"] == filename


@responses.activate
def test_download_streams_each_file_into_place(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(200_000)
    responses.get(VIEW, body=png, match=[matchers.query_param_matcher({"filename": "x.png", "subfolder": "probe/sub", "type": "output"})])
    responses.get(VIEW, body=b"tmp", match=[matchers.query_param_matcher({"filename": "t.png", "subfolder": "", "type": "temp"})])
    paths = download(requests.Session(), VIEW, [OutputFile("3", "x.png", "probe/sub"), OutputFile("4", "t.png", type="temp")], tmp_path)
    assert paths == [tmp_path.resolve() / "probe" / "sub" / "x.png", tmp_path.resolve() / "temp" / "t.png"]
    assert paths[0].read_bytes() == png
    assert not list(tmp_path.rglob("*.part"))


@responses.activate
def test_a_bad_name_stops_the_download_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(MalformedResponse):
        download(requests.Session(), VIEW, [OutputFile("3", "ok.png"), OutputFile("3", "../../x")], tmp_path / "out")
    assert len(responses.calls) == 0
    assert not (tmp_path / "x").exists()


@responses.activate
def test_a_symlinked_subfolder_pointing_out_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "out"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(MalformedResponse):
        download(requests.Session(), VIEW, [OutputFile("3", "x.png", "link")], root)
    assert not list(outside.iterdir())


@responses.activate
def test_a_short_body_is_reported_and_not_kept(tmp_path: Path) -> None:
    responses.get(VIEW, body=b"12345", headers={"Content-Length": "10"}, auto_calculate_content_length=False)
    session = requests.Session()
    with pytest.raises(ConnectionLost):
        download(session, VIEW, [OutputFile("3", "x.png")], tmp_path)
    assert not list(tmp_path.iterdir())


@responses.activate
def test_size_cap_refuses_a_larger_file(tmp_path: Path) -> None:
    responses.get(VIEW, body=bytes(1000))
    with pytest.raises(ServiceError, match="larger than the 100 bytes allowed"):
        download(requests.Session(), VIEW, [OutputFile("3", "x.png")], tmp_path, max_bytes=100)
    assert not list(tmp_path.iterdir())


@responses.activate
def test_a_404_from_view_is_a_typed_error(tmp_path: Path) -> None:
    responses.get(VIEW, status=404)
    with pytest.raises(NotFound):
        download(requests.Session(), VIEW, [OutputFile("3", "gone.png")], tmp_path)


@responses.activate
def test_upload_sends_multipart_and_returns_the_reference(tmp_path: Path) -> None:
    responses.post(UPLOAD, json={"name": "probe_up (1).png", "subfolder": "shots", "type": "input"})
    source = tmp_path / "probe_up.png"
    source.write_bytes(b"\x89PNG data")
    uploaded = upload(requests.Session(), UPLOAD, source, subfolder="shots", overwrite=True)
    assert uploaded == UploadedFile("probe_up (1).png", "shots", "input")
    assert uploaded.reference == "shots/probe_up (1).png"
    request = responses.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    body = request.body if isinstance(request.body, bytes) else request.body.read()
    assert b'name="image"; filename="probe_up.png"' in body and b"\x89PNG data" in body
    assert b'name="overwrite"\r\n\r\ntrue' in body and b'name="subfolder"\r\n\r\nshots' in body


@responses.activate
def test_upload_of_bytes_needs_a_plain_name() -> None:
    responses.post(UPLOAD, json={"name": "clip.mp4", "subfolder": "", "type": "input"})
    assert upload(requests.Session(), UPLOAD, io.BytesIO(b"mp4"), "clip.mp4").reference == "clip.mp4"
    with pytest.raises(InvalidSetting):
        upload(requests.Session(), UPLOAD, b"x", "../evil.png")
    with pytest.raises(InvalidSetting):
        upload(requests.Session(), UPLOAD, b"x", "ok.png", type="bogus")
    with pytest.raises(InvalidSetting):
        upload(requests.Session(), UPLOAD, b"x", "ok.png", subfolder="../../x")


@responses.activate
def test_upload_answer_without_a_name_is_malformed() -> None:
    responses.post(UPLOAD, json={"ok": True})
    with pytest.raises(MalformedResponse):
        upload(requests.Session(), UPLOAD, b"x", "ok.png")
