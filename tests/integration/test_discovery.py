"""Discovery against the real stand-ins on non-default ports, an unrelated server and a silent port.

The ComfyUI stand-in, the Gradio 5.29 Wan2GP app and the real LiteLLM proxy run on
free loopback ports given to ``--ports``; next to them a plain HTTP server (not a
backend) and a port that accepts connections and never answers.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from movie_director.backend import Status
from movie_director.capabilities import LLM_CHAT
from movie_director.config import load_config
from movie_director.discovery import UNKNOWN, DiscoveryRun, adopt
from movie_director.plugins import get_plugin_manager
from movie_director.registry import open_registry
from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY
from movie_director_testing.processes import ServerProcess

pytestmark = pytest.mark.integration

TIMEOUT = 2.0
#: Start-up of the CLI process (imports, plugins) on a loaded 2-core machine.
PROCESS_ALLOWANCE = 4.0


@pytest.fixture(scope="module")
def unrelated_url() -> Iterator[str]:
    """A plain web server that is no backend."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def silent_url() -> Iterator[str]:
    """Accepts connections (the kernel completes them) and never sends a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """An empty config file, a private data dir, and the proxy's key where the litellm service expects it."""
    config = tmp_path / "config.yaml"
    config.write_text("{}\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("MOVIE_DIRECTOR_")}
    env |= {
        "MOVIE_DIRECTOR_CONFIG": str(config),
        "MOVIE_DIRECTOR_DATA_DIR": str(tmp_path / "data"),
        "MOVIE_DIRECTOR_LITELLM_API_KEY": DEFAULT_MASTER_KEY,
    }
    return env


@pytest.fixture
def backends(comfyui_server: ServerProcess, wan2gp_webui_server: ServerProcess, litellm_server: ServerProcess) -> dict[str, ServerProcess]:
    servers = {"comfyui": comfyui_server, "wan2gp": wan2gp_webui_server, "litellm": litellm_server}
    defaults = {port for backend in get_plugin_manager().backends.values() for port in backend.default_ports}
    assert not {server.port for server in servers.values()} & defaults, "the stand-ins must run on non-default ports"
    return servers


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "movie_director.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_discover_labels_each_port_within_the_probe_timeout(
    backends: dict[str, ServerProcess], unrelated_url: str, silent_url: str, isolated_env: dict[str, str]
) -> None:
    urls = [server.url for server in backends.values()] + [unrelated_url, silent_url]
    started = time.monotonic()
    done = cli("discover", "--ports", ",".join(port_of(url) for url in urls), "--timeout", str(TIMEOUT), "--json", env=isolated_env)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    rows = {row["url"]: row for row in json.loads(done.stdout)}
    for kind, server in backends.items():
        row = rows[server.url]
        assert row["kind"] == kind, row
        assert {"kind", "url", "version", "latency_ms", "capabilities"} <= set(row)
        assert row["capabilities"], f"{kind}: no capabilities read from the live service"
    assert rows[backends["comfyui"].url]["version"]
    assert rows[unrelated_url]["kind"] == UNKNOWN
    assert rows[unrelated_url]["seen"].startswith("HTTP 200, server SimpleHTTP/")
    assert rows[silent_url] == {**rows[silent_url], "kind": UNKNOWN, "seen": f"no answer within {TIMEOUT:g} s"}
    # every port is identified in parallel: the silent one costs one probe timeout, not one per backend
    assert elapsed < TIMEOUT + PROCESS_ALLOWANCE, f"discover took {elapsed:.2f} s"


def test_discovery_run_in_process_is_bounded_by_the_timeout(
    backends: dict[str, ServerProcess], unrelated_url: str, silent_url: str
) -> None:
    ports = [int(port_of(url)) for url in [*(server.url for server in backends.values()), unrelated_url, silent_url]]
    seen: list[str] = []
    run = DiscoveryRun(ports=ports, timeout=1.0, include_default_ports=False, with_capabilities=False, on_result=lambda result: seen.append(result.kind))
    results = run.run()
    assert sorted(seen) == sorted(result.kind for result in results) == sorted(["comfyui", "wan2gp", "litellm", UNKNOWN, UNKNOWN])
    assert run.elapsed < 1.0 + 1.0, f"identification took {run.elapsed:.2f} s with a 1 s probe timeout"


def test_found_services_are_listed_checked_and_adopted(backends: dict[str, ServerProcess], isolated_env: dict[str, str]) -> None:
    ports = ",".join(str(server.port) for server in backends.values())
    assert cli("discover", "--ports", ports, "--json", env=isolated_env).returncode == 0
    listed = cli("services", "--json", env=isolated_env)
    assert listed.returncode == 0, listed.stderr
    instances = {instance["url"]: instance for service in json.loads(listed.stdout) for instance in service["instances"]}
    for kind, server in backends.items():
        instance = instances[server.url]
        assert (instance["kind"], instance["status"], instance["error"]) == (kind, Status.ONLINE.value, None), instance
        assert instance["capabilities"] and "discovery" in instance["sources"]

    result = next(row for row in DiscoveryRun(ports=[backends["litellm"].port], include_default_ports=False).run() if row.recognized)
    config_file = Path(isolated_env["MOVIE_DIRECTOR_CONFIG"])
    adopted = adopt(result, path=config_file, environ=isolated_env)
    config = load_config(environ=isolated_env)
    assert config.service(adopted.name).url == backends["litellm"].url
    registry = open_registry(config)
    assert registry.get(adopted.name).sources >= {"config", "discovery"}  # the discovered instance became the configured one
    registry.update_health(adopted.name, Status.ONLINE, queue_depth=0, latency_ms=5.0)
    assert registry.find(LLM_CHAT, id="mock-gpt").name == adopted.name


def test_discover_adopt_as_instances_makes_a_second_server_another_instance(backend_servers: Any, isolated_env: dict[str, str]) -> None:
    first, second = backend_servers.start("comfyui"), backend_servers.start("comfyui")
    config_file = Path(isolated_env["MOVIE_DIRECTOR_CONFIG"])
    config_file.write_text(f"# my farm\nservices:\n  comfyui:\n    url: {first.url}\n", encoding="utf-8")
    done = cli("discover", "--ports", f"{first.port},{second.port}", "--adopt", "--as-instances", "--json", env=isolated_env)
    assert done.returncode == 0, done.stderr
    adopted = {row["url"]: row["adopted"]["service"] for row in json.loads(done.stdout) if "adopted" in row}
    assert adopted == {first.url: "comfyui", second.url: "comfyui"}
    assert config_file.read_text(encoding="utf-8").startswith("# my farm")
    comfy = load_config(environ=isolated_env).service("comfyui")
    assert [instance.url for instance in comfy.instances] == [first.url, second.url]
    again = cli("discover", "--ports", f"{first.port},{second.port}", "--adopt", "--as-instances", env=isolated_env)
    assert again.returncode == 0, again.stderr
    assert [instance.url for instance in load_config(environ=isolated_env).service("comfyui").instances] == [first.url, second.url]


def test_status_and_services_show_each_server_of_a_service(backend_servers: Any, isolated_env: dict[str, str]) -> None:
    first, second = backend_servers.start("comfyui"), backend_servers.start("comfyui")
    env = {**isolated_env, "MOVIE_DIRECTOR_COMFYUI_URL": f"{first.url},{second.url}"}
    status = cli("status", "--json", env=env)
    rows = {row["name"]: row for row in json.loads(status.stdout)["services"] if row["kind"] == "comfyui"}
    assert {name: (row["group"], row["url"], row["status"]) for name, row in rows.items()} == {
        "comfyui#1": ("comfyui", first.url, Status.ONLINE.value),
        "comfyui#2": ("comfyui", second.url, Status.ONLINE.value),
    }, status.stderr
    assert all(row["backend_queue_depth"] == 0 for row in rows.values())  # each server's own load, read by its check

    listed = cli("services", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    [comfy] = [service for service in json.loads(listed.stdout) if service["kind"] == "comfyui"]
    servers = {instance["name"]: instance for instance in comfy["instances"]}
    assert {name: (servers[name]["url"], servers[name]["status"]) for name in ("comfyui#1", "comfyui#2")} == {
        "comfyui#1": (first.url, Status.ONLINE.value),
        "comfyui#2": (second.url, Status.ONLINE.value),
    }
    assert cli("check", "comfyui#2", "--json", env=env).returncode == 0
