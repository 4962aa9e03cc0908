"""Every command against a table of bad inputs, in-process: the documented exit code, one line naming
the input, no traceback, quickly — and with ``--json`` one JSON document on stdout saying what failed.

Nothing here reaches a server: every URL is refused locally or points at a closed port.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import pytest

from movie_director.cli import main
from movie_director_testing.processes import free_port

#: In-process, a refused input must not cost more than this (argument checks touch no network).
QUICK_S = 3.0
CLOSED = f"http://127.0.0.1:{free_port()}"
NOT_WRITABLE = "/proc/movie-director-nope"

#: (command, exit code, text the message must contain). ``{tmp}`` is a folder of prepared files.
CASES = [
    # URLs and numbers, refused before any connection
    (["check", "http://127.0.0.1:99999"], 2, "99999"),
    (["check", "http://127.0.0.1:0"], 2, "127.0.0.1:0"),
    (["check", "htp://x"], 2, "htp://x"),
    (["check", "http://"], 2, "http://"),
    (["check", CLOSED, "--timeout", "0"], 2, "'0'"),
    (["check", CLOSED, "--timeout", "-1"], 2, "'-1'"),
    (["check", CLOSED, "--timeout", "nan"], 2, "'nan'"),
    (["check", CLOSED, "--timeout", "soon"], 2, "soon"),
    (["check", "nosuch"], 2, "nosuch"),
    (["check"], 2, "target"),
    (["check", CLOSED.removeprefix("http://")], 3, CLOSED),
    (["discover", "--ports", "9-1"], 2, "9-1"),
    (["gradio", "endpoints", CLOSED, "--timeout", "0"], 2, "'0'"),
    (["llm", "models", "--url", "127.0.0.1:70000"], 2, "70000"),
    (["llm", "chat", "hi", "--url", "ftp://127.0.0.1:4000"], 2, "ftp"),
    (["status", "--interval", "-1", "--watch"], 2, "'-1'"),
    (["status", "--watch-for", "2"], 2, "--watch-for"),
    (["status", "--timeout", "0"], 2, "'0'"),
    (["comfyui", "run", "{tmp}/wf.json", "--url", CLOSED, "--timeout", "-3"], 2, "'-3'"),
    (["--config", "{tmp}/missing.yaml", "config", "show"], 2, "missing.yaml"),
    (["config", "show", "--config", "{tmp}/missing.yaml"], 2, "missing.yaml"),
    (["nosuchcommand"], 2, "nosuchcommand"),
    # workflow files: refused by comfyui run before connecting, and by doctor --workflow alike
    (["comfyui", "run", "{tmp}/missing.json", "--url", CLOSED], 2, "missing.json"),
    (["comfyui", "run", "{tmp}", "--url", CLOSED], 2, "is a folder"),
    (["comfyui", "run", "{tmp}/truncated.json", "--url", CLOSED], 2, "truncated.json"),
    (["comfyui", "run", "{tmp}/list.json", "--url", CLOSED], 2, "list.json"),
    (["comfyui", "run", "{tmp}/binary.json", "--url", CLOSED], 2, "binary.json"),
    (["comfyui", "run", "{tmp}/ui.json", "--url", CLOSED], 2, "ui.json"),
    (["doctor", "--workflow", "{tmp}/missing.json", "--timeout", "0.5"], 1, "missing.json"),
    (["doctor", "--workflow", "{tmp}/truncated.json", "--timeout", "0.5"], 1, "truncated.json"),
    (["doctor", "--workflow", "{tmp}/list.json", "--timeout", "0.5"], 1, "list.json"),
    (["doctor", "--workflow", "{tmp}/binary.json", "--timeout", "0.5"], 1, "binary.json"),
    (["doctor", "--workflow", "{tmp}/ui.json", "--timeout", "0.5"], 1, "UI workflow"),
    # config files
    (["config", "validate", "{tmp}/url_number.yaml"], 2, "/services/comfyui/url"),
    (["config", "validate", "{tmp}/services_list.yaml"], 2, "/services"),
    (["config", "validate", "{tmp}/profiles_list.yaml"], 2, "/profiles"),
    (["config", "validate", "{tmp}/binary.yaml"], 2, "binary.yaml"),
    (["config", "validate", "{tmp}/syntax.yaml"], 2, "line 4, column 8"),  # where PyYAML stopped
    (["config", "validate", "{tmp}/syntax.json"], 2, "line 1, column"),
    (["config", "validate", "{tmp}/missing.yaml"], 2, "missing.yaml"),
    # --out is checked before anything is sent
    (["comfyui", "run", "{tmp}/wf.json", "--url", CLOSED, "--out", NOT_WRITABLE], 2, NOT_WRITABLE),
    (["comfyui", "run", "{tmp}/wf.json", "--url", CLOSED, "--out", "{tmp}/wf.json"], 2, "is a file"),
    (["wan2gp", "generate", "--prompt", "x", "--url", CLOSED, "--out", NOT_WRITABLE], 2, NOT_WRITABLE),
    (["wan2gp", "generate", "--prompt", "x", "--url", CLOSED, "--out", "{tmp}/wf.json"], 2, "is a file"),
    (["gradio", "call", CLOSED, "predict", "--out", NOT_WRITABLE], 2, NOT_WRITABLE),
    (["gradio", "call", CLOSED, "predict", "--out", "{tmp}/wf.json"], 2, "is a file"),
    # input files of a job
    (["wan2gp", "generate", "--prompt", "x", "--url", CLOSED, "--image", "{tmp}/binary.json"], 2, "binary.json"),
    (["wan2gp", "generate", "--prompt", "x", "--url", CLOSED, "--image", "{tmp}/missing.png"], 2, "missing.png"),
    (["wan2gp", "generate", "--prompt", "x", "--url", CLOSED, "--video-guide", "{tmp}"], 2, "is a folder"),
    # unreachable services: exit 3, the address named
    (["llm", "models", "--url", CLOSED, "--timeout", "2"], 3, "LiteLLM"),
    (["gradio", "endpoints", CLOSED, "--timeout", "2"], 3, CLOSED),
    (["comfyui", "run", "{tmp}/wf.json", "--url", CLOSED, "--timeout", "2", "--no-validate"], 3, "ComfyUI"),
]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in [v for v in os.environ if v.startswith("MOVIE_DIRECTOR_")]:
        monkeypatch.delenv(variable)
    config = tmp_path / "config.yaml"
    config.write_text(f"services:\n  comfyui:\n    url: {CLOSED}\n  litellm:\n    enabled: false\n  wan2gp:\n    enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(config))
    monkeypatch.setenv("MOVIE_DIRECTOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "wf.json").write_text(json.dumps({"1": {"class_type": "EmptyImage", "inputs": {}}}), encoding="utf-8")
    (folder / "ui.json").write_text(json.dumps({"nodes": [], "links": [], "last_node_id": 0}), encoding="utf-8")
    (folder / "truncated.json").write_text('{"1": {"class_type": ', encoding="utf-8")
    (folder / "list.json").write_text("[]", encoding="utf-8")
    (folder / "binary.json").write_bytes(bytes(range(256)))
    (folder / "binary.yaml").write_bytes(bytes(range(128, 256)))
    (folder / "url_number.yaml").write_text("services:\n  comfyui:\n    url: 8188\n", encoding="utf-8")
    (folder / "services_list.yaml").write_text("services: [comfyui]\n", encoding="utf-8")
    (folder / "profiles_list.yaml").write_text("profiles: [Local]\n", encoding="utf-8")
    (folder / "syntax.yaml").write_text("services:\n  comfyui:\n    url: [http://x\n  other: 1\n", encoding="utf-8")
    (folder / "syntax.json").write_text('{"services": }', encoding="utf-8")
    return folder


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    started = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    return code, captured.out, captured.err, elapsed


def expand(argv: list[str], folder: Path) -> list[str]:
    return [part.replace("{tmp}", str(folder)) for part in argv]


#: The same in every pytest-xdist worker (each picks its own closed port): workers must collect equal ids.
CASE_IDS = [" ".join(case[0]).replace(CLOSED.removeprefix("http://"), "{closed}")[:60] for case in CASES]


@pytest.mark.parametrize(("argv", "code", "named"), CASES, ids=CASE_IDS)
def test_bad_input_gets_its_exit_code_and_one_line_naming_it(argv: list[str], code: int, named: str, files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = expand(argv, files)
    named = named.replace("{tmp}", str(files))
    exit_code, out, err, elapsed = run(argv, capsys)
    assert exit_code == code, (out, err)
    assert "Traceback" not in out + err
    assert elapsed < QUICK_S + (2.0 if code == 3 else 0.0)
    text = out + err
    assert any(line.startswith("✗") for line in text.splitlines()), "a failure opens with a ✗ line"
    assert named in text, text


@pytest.mark.parametrize(("argv", "code", "named"), CASES, ids=CASE_IDS)
def test_with_json_stdout_holds_one_document_saying_what_failed(argv: list[str], code: int, named: str, files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err, _ = run([*expand(argv, files), "--json"], capsys)
    assert exit_code == code
    document = json.loads(out)
    assert document["ok"] is False
    assert "Traceback" not in err
    error = document.get("error") or {}
    checks = document.get("checks") or document.get("problems") or []
    assert error.get("code") or checks, document
    if error:
        assert set(error) >= {"code", "message", "hints", "category"}


def test_global_options_work_before_and_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "-v", "plugins"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["plugins", "-v", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == before
    assert main(["config", "show", "-q", "--json"]) == 0
    assert "active_profile" in json.loads(capsys.readouterr().out)


def test_config_option_chooses_the_file_for_this_command_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("services:\n  comfyui:\n    url: http://127.0.0.1:8999\n", encoding="utf-8")
    assert main(["config", "show", "--json", "--config", str(other)]) == 0
    assert json.loads(capsys.readouterr().out)["services"]["comfyui"]["url"] == "http://127.0.0.1:8999"
    assert os.environ["MOVIE_DIRECTOR_CONFIG"] != str(other)


def test_a_bare_host_and_port_is_an_http_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", CLOSED.removeprefix("http://"), "--json", "--timeout", "1"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["url"] == CLOSED and report["error"]["code"] == "connection_refused" and report["status"] == "offline"


def test_a_dash_prompt_is_read_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert main(["llm", "chat", "-", "--url", CLOSED]) == 2
    assert "empty prompt from standard input" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\ufeffa cat\n".encode())))
    assert main(["llm", "chat", "-", "--url", CLOSED, "--timeout", "1"]) == 3  # read, then sent: the server is what is missing


def test_a_workflow_from_stdin_is_checked_like_a_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"nodes": [], "links": []}')))
    assert main(["comfyui", "run", "-", "--url", CLOSED]) == 2
    assert "Standard input: This is a ComfyUI UI workflow" in capsys.readouterr().err


def test_out_is_made_absolute_and_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from movie_director.cli.arguments import output_folder

    assert output_folder("renders/today") == tmp_path / "renders" / "today"
    assert (tmp_path / "renders" / "today").is_dir()


@pytest.mark.parametrize("head", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"GIF89a"])
def test_images_are_recognised_by_their_content(tmp_path: Path, head: bytes) -> None:
    from movie_director.cli.arguments import image_file

    image = tmp_path / "start.bin"
    image.write_bytes(head + bytes(32))
    assert image_file(str(image)) == image
