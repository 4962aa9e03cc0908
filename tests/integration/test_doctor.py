"""`movie-director doctor` against the real test backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY
from movie_director_testing.processes import ServerProcess, free_port

pytestmark = pytest.mark.integration


def doctor(env: dict[str, str], tmp_path: Path, *args: str) -> tuple[int, dict]:
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("MOVIE_DIRECTOR_") and "proxy" not in key.lower()}
    full_env.update({"MOVIE_DIRECTOR_DATA_DIR": str(tmp_path / "data"), "MOVIE_DIRECTOR_CONFIG": str(tmp_path / "none.yaml"), **env})
    (tmp_path / "none.yaml").touch()
    result = subprocess.run(
        [sys.executable, "-m", "movie_director.cli", "doctor", "--json", "--timeout", "5", *args],
        capture_output=True, text=True, timeout=60, env=full_env,
    )
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def backend_env(comfyui_server: ServerProcess, litellm_server: ServerProcess, wan2gp_webui_server: ServerProcess) -> dict[str, str]:
    return {
        "MOVIE_DIRECTOR_COMFYUI_URL": comfyui_server.url,
        "MOVIE_DIRECTOR_LITELLM_URL": litellm_server.url,
        "MOVIE_DIRECTOR_LITELLM_API_KEY": DEFAULT_MASTER_KEY,
        "MOVIE_DIRECTOR_WAN2GP_URL": wan2gp_webui_server.url,
    }


def by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


def test_all_up_every_check_passes(backend_env: dict[str, str], tmp_path: Path) -> None:
    code, report = doctor(backend_env, tmp_path)
    failing = [check for check in report["checks"] if check["status"] != "ok"]
    assert code == 0 and report["ok"], failing
    assert not failing
    names = " ".join(by_name(report))
    for service in ("comfyui", "litellm", "wan2gp"):
        assert service in names
    assert report["elapsed_s"] < 10


def test_stopped_comfyui_fails_with_port_and_fix(backend_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    code, report = doctor({**backend_env, "MOVIE_DIRECTOR_COMFYUI_URL": f"http://127.0.0.1:{port}"}, tmp_path)
    assert code == 1 and not report["ok"]
    comfy = next(check for check in report["checks"] if check["name"].startswith("comfyui"))
    assert comfy["status"] == "fail" and "connection_refused" in comfy["detail"]
    assert str(port) in comfy["fix"] and "Start ComfyUI" in comfy["fix"]


def test_dead_http_proxy_is_bypassed_for_loopback(backend_env: dict[str, str], tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, report = doctor({**backend_env, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead}, tmp_path)
    assert code == 0, [c for c in report["checks"] if c["status"] != "ok"]
    proxy = by_name(report)["proxy"]
    assert "bypass" in proxy["detail"] and proxy["data"]["bypassed_for_loopback"] is True


def test_literal_key_in_config_file_is_flagged(backend_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("services:\n  litellm:\n    api_key: sk-literal-secret-9999\n", encoding="utf-8")
    code, report = doctor({**backend_env, "MOVIE_DIRECTOR_CONFIG": str(config)}, tmp_path)
    assert code == 1
    check = by_name(report)["config"]
    assert check["status"] == "fail" and "/services/litellm/api_key" in json.dumps(check)
    assert "sk-literal-secret-9999" not in json.dumps(report)


def test_missing_workflow_node_is_reported(backend_env: dict[str, str], tmp_path: Path) -> None:
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps({"1": {"class_type": "NoSuchCustomNode", "inputs": {}}}), encoding="utf-8")
    code, report = doctor(backend_env, tmp_path, "--workflow", str(workflow))
    assert code == 1
    assert "NoSuchCustomNode" in by_name(report)["comfyui workflow"]["detail"]
