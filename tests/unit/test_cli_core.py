"""The built-in commands in-process: plugins, config show/validate, check, doctor."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from movie_director import cli
from movie_director.cli import main
from movie_director.cli.exits import EXIT_INTERRUPTED
from movie_director_testing.processes import free_port


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in [v for v in __import__("os").environ if v.startswith("MOVIE_DIRECTOR_")]:
        monkeypatch.delenv(variable)
    empty = tmp_path / "empty.yaml"
    empty.touch()
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(empty))
    monkeypatch.setenv("MOVIE_DIRECTOR_DATA_DIR", str(tmp_path / "data"))


def test_plugins_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    assert "comfyui" in capsys.readouterr().out
    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"comfyui", "wan2gp", "litellm", "gradio"} <= {row["name"] for row in rows}


def test_config_show_with_sources(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_URL", "http://127.0.0.1:9999")
    assert main(["config", "show", "--sources"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:9999" in out and "env (MOVIE_DIRECTOR_COMFYUI_URL)" in out
    assert main(["config", "show", "--json", "--sources"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["services"]["comfyui"]["sources"]["url"] == "env (MOVIE_DIRECTOR_COMFYUI_URL)"


def test_config_show_with_a_bad_env_value_exits_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_TIMEOUT", "soon")
    assert main(["config", "show"]) == 2
    assert "MOVIE_DIRECTOR_COMFYUI_TIMEOUT" in capsys.readouterr().err


def test_config_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("services:\n  comfyui: {url: 'http://127.0.0.1:8188'}\n")
    assert main(["config", "validate", str(good)]) == 0
    assert "is valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  comfyui:\n    port: '8188'\n    colour: blue\n    api_key: sk-live-abcdef123456\n")
    assert main(["config", "validate", str(bad)]) == 2
    out = capsys.readouterr().out
    for pointer in ("/services/comfyui/port", "/services/comfyui/colour", "/services/comfyui/api_key"):
        assert pointer in out
    assert "sk-live-abcdef123456" not in out
    assert main(["config", "validate", str(bad), "--json"]) == 2
    assert len(json.loads(capsys.readouterr().out)["problems"]) == 3
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    assert main(["config", "validate", str(broken)]) == 2


def test_check_refused_exits_3_with_hints(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["check", url, "--timeout", "1"]) == 3
    err = capsys.readouterr().err
    assert "connection_refused" in err and "1. " in err
    assert main(["check", url, "--json", "--kind", "comfyui", "--timeout", "1"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["error"]["code"] == "connection_refused" and report["error"]["hints"][0].startswith("Start ComfyUI")


def test_doctor_human_and_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for kind in ("COMFYUI", "WAN2GP", "LITELLM"):
        monkeypatch.setenv(f"MOVIE_DIRECTOR_{kind}_ENABLED", "no")
    assert main(["doctor"]) == 0
    assert "all required checks pass" in capsys.readouterr().out
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_ENABLED", "yes")
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["doctor", "--json", "--timeout", "1"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and any(check["status"] == "fail" for check in report["checks"])


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "movie-director" in capsys.readouterr().out


def test_config_init_writes_a_commented_valid_starter_and_keeps_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "new" / "config.yaml"
    assert main(["config", "init", str(target), "--no-discover"]) == 0
    text = target.read_text(encoding="utf-8")
    assert "  comfyui:\n    kind: comfyui\n    url: http://127.0.0.1:8188" in text and "# timeout: 30" in text
    assert main(["config", "validate", str(target)]) == 0
    target.write_text("# mine\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["config", "init", str(target), "--no-discover"]) == 2
    assert "already exists" in capsys.readouterr().err and target.read_text(encoding="utf-8") == "# mine\n"
    assert main(["config", "init", str(target), "--no-discover", "--force"]) == 0


def test_config_init_lists_the_services_discover_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from movie_director.cli import config_cmd

    monkeypatch.setattr(config_cmd, "_found_services", lambda: [("comfyui-8190", "comfyui", "http://127.0.0.1:8190", "found by discover: comfyui 0.3")])
    target = tmp_path / "found.yaml"
    assert main(["config", "init", str(target), "--json"]) == 0
    assert [service["name"] for service in json.loads(capsys.readouterr().out)["services"]] == ["comfyui-8190"]
    assert "url: http://127.0.0.1:8190  # found by discover: comfyui 0.3" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("code", [0, 1, 3])
def test_the_entry_exits_with_mains_code(code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "main", lambda: code)
    with pytest.raises(SystemExit) as ended:
        cli.run()
    assert ended.value.code == code


def test_after_ctrl_c_the_entry_hands_the_interrupt_to_python_quietly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Python ends a process whose KeyboardInterrupt went unhandled by SIGINT itself, after its clean-up."""
    monkeypatch.setattr(cli, "main", lambda: EXIT_INTERRUPTED)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    with pytest.raises(KeyboardInterrupt) as raised:
        cli.run()
    sys.excepthook(KeyboardInterrupt, raised.value, None)
    assert capsys.readouterr().err == ""  # main already printed "Interrupted."
    sys.excepthook(ValueError, ValueError("still reported"), None)
    assert "ValueError: still reported" in capsys.readouterr().err
