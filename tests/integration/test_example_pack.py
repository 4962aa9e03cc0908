"""A third-party plugin pack, pip-installed into this environment, behaves like a built-in backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from movie_director_testing.processes import ServerProcess, http_ready

PACK = Path(__file__).parents[2] / "examples" / "movie-director-echo"
CLI = [sys.executable, "-m", "movie_director.cli"]


def _installer(*args: str) -> list[str]:
    uv = shutil.which("uv")
    if uv:
        return [uv, "pip", *args[:1], "--python", sys.executable, *args[1:]]
    return [sys.executable, "-m", "pip", *args]


@pytest.fixture(scope="module")
def installed_pack() -> Iterator[None]:
    """Install the example pack offline (no build isolation, no index), remove it afterwards."""
    install = _installer("install", "--no-deps", "--no-build-isolation", "--offline" if shutil.which("uv") else "--no-index", str(PACK))
    subprocess.run(install, check=True, capture_output=True, timeout=120)
    try:
        yield
    finally:
        remove = _installer("uninstall", "movie-director-echo") + ([] if shutil.which("uv") else ["-y"])
        subprocess.run(remove, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def echo_server(installed_pack: None) -> Iterator[ServerProcess]:
    with ServerProcess("echo", [sys.executable, "-m", "md_echo.server", "--port", "{port}"], ready=http_ready("/echo/health")) as server:
        yield server


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


def test_pack_is_listed_with_distribution(installed_pack: None) -> None:
    result = run_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {row["name"]: row for row in json.loads(result.stdout)}
    assert plugins["echo"]["distribution"] == "movie-director-echo"
    assert plugins["echo"]["version"] == "1.0.0"
    assert plugins["echo"]["backends"] == ["echo"] and plugins["echo"]["ok"]
    assert plugins["echo"]["hooks"] == ["register_backends", "register_commands", "register_operations"]
    assert {"comfyui", "wan2gp", "litellm"} <= set(plugins)


def test_pack_is_configurable_like_a_builtin(installed_pack: None) -> None:
    result = run_cli("config", "show", "--sources", "--json", env={"MOVIE_DIRECTOR_ECHO_URL": "http://127.0.0.1:7071"})
    assert result.returncode == 0, result.stderr
    echo = json.loads(result.stdout)["services"]["echo"]
    assert echo["url"] == "http://127.0.0.1:7071"
    assert echo["sources"]["url"] == "env (MOVIE_DIRECTOR_ECHO_URL)"


def test_pack_is_probed_and_health_checked(echo_server: ServerProcess) -> None:
    result = run_cli("check", echo_server.url, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "echo" and report["version"] == "1.0"
    assert report["health"]["ok"] is True
    assert [c["name"] for c in report["capabilities"]] == ["echo.json"]


def test_pack_command_talks_to_its_service(echo_server: ServerProcess) -> None:
    result = run_cli("echo", "hello", "--url", echo_server.url, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {"echo": "hello"}
    assert "echo" in run_cli("--help").stdout


def test_pack_operation_runs_through_the_queue(echo_server: ServerProcess, tmp_path: Path) -> None:
    """``echo.send`` arrives through ``register_operations`` and runs like a built-in's queued work."""
    script = (
        "import json, sys\n"
        "from movie_director.check import adhoc_service\n"
        "from movie_director.configdata import Config\n"
        "from movie_director.manager import ServiceManager\n"
        "from pathlib import Path\n"
        "services = {'echo': adhoc_service(sys.argv[1], 'echo')}\n"
        "config = Config(services=services, active_profile='Local', profiles=('Local',), file=None, data_dir=Path(sys.argv[2]))\n"
        "with ServiceManager(config) as manager:\n"
        "    print(json.dumps(manager.submit('echo', 'echo.send', {'body': {'n': 1}}).wait(timeout=30)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, echo_server.url, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 1}


def test_pack_can_be_excluded_by_env(installed_pack: None) -> None:
    result = run_cli("plugins", "--json", env={"MOVIE_DIRECTOR_LOAD_PLUGINS": "comfyui,litellm"})
    assert [row["name"] for row in json.loads(result.stdout)] == ["comfyui", "litellm"]
