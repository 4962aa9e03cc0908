"""A service with several ComfyUI servers through the Python API: spread, failover, never twice.

Real stand-in processes on loopback, the real comfyui plugin, the manager's default
options and the service's default health interval (60 s): routing must not wait for
health checks to spread work. Proof of "never twice": every prompt id appears in the
union of the servers' ``/history`` exactly once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import requests

from movie_director.configdata import InstanceConfig, ServiceConfig
from movie_director.manager import ServiceManager
from movie_director.plugins import get_plugin_manager
from movie_director_testing import queue_client as qc
from movie_director_testing.processes import wait_until

pytestmark = pytest.mark.integration


def farm(urls: list[str]) -> ServiceConfig:
    """One comfyui service whose instances are ``urls``, on default health checks."""
    single = replace(qc.service("comfyui", urls[0]), health_interval=60.0)
    return replace(single, instances=tuple(InstanceConfig(url) for url in urls))


def history_ids(url: str) -> list[str]:
    return list(requests.get(f"{url}/history", timeout=5).json())


def ran(urls: list[str], keys: list[str]) -> dict[str, list[str]]:
    """Each server's history once every key has run somewhere (an accepted prompt runs later)."""

    def finished() -> dict[str, list[str]] | None:
        found = {url: sorted(key for key in history_ids(url) if key in keys) for url in urls}
        return found if sum(len(ids) for ids in found.values()) >= len(keys) else None

    return wait_until(finished, 30, message="every prompt in some server's history")


def submit_all(manager: ServiceManager, keys: list[str]) -> list[Any]:
    """Submit one prompt per key, wait for every operation; their final records, in order."""
    handles = [manager.submit("comfyui", "comfyui.submit", {"workflow": qc.GRAPH}, idempotency_key=key) for key in keys]
    for handle in handles:
        handle.wait(60)
    return [handle.operation() for handle in handles]


def connected(manager: ServiceManager, names: list[str]) -> bool:
    return all(manager.snapshot().service(name).state == "connected" for name in names)


@pytest.fixture
def plugins() -> Any:
    manager = get_plugin_manager()
    if "comfyui" not in manager.backends:
        pytest.skip("the comfyui plugin is not installed")
    return manager


def test_work_spreads_over_every_server_and_the_queue_records_which_took_what(backend_servers: Any, plugins: Any, tmp_path: Any) -> None:
    servers = [backend_servers.start("comfyui", node_delay=0.05) for _ in range(3)]
    urls = [server.url for server in servers]
    with ServiceManager(qc.config_for(tmp_path, farm(urls)), plugins) as manager:
        members = manager.instances("comfyui")
        assert members == ["comfyui#1", "comfyui#2", "comfyui#3"]
        wait_until(lambda: connected(manager, members), 20, message="every server connected")
        keys = [f"spread-{n:02d}" for n in range(9)]
        operations = submit_all(manager, keys)
        assert [operation.result["prompt_id"] for operation in operations] == keys
        by_server = ran(urls, keys)
        assert all(len(ids) == 3 for ids in by_server.values()), by_server
        for operation in operations:
            assert operation.idempotency_key in by_server[operation.instance], f"{operation.idempotency_key} recorded on {operation.instance}, sent elsewhere"
            assert operation.summary()["instance"] == operation.instance
        snapshot = manager.snapshot()
        assert {snapshot.service(name).group for name in members} == {"comfyui"}
        assert [snapshot.service(name).url for name in members] == urls


def test_a_dead_server_gets_no_work_and_nothing_runs_twice(backend_servers: Any, plugins: Any, tmp_path: Any) -> None:
    servers = [backend_servers.start("comfyui", node_delay=0.05) for _ in range(3)]
    urls = [server.url for server in servers]
    with ServiceManager(qc.config_for(tmp_path, farm(urls)), plugins) as manager:
        members = manager.instances("comfyui")
        wait_until(lambda: connected(manager, members), 20, message="every server connected")
        first = [f"before-{n:02d}" for n in range(3)]
        submit_all(manager, first)
        servers[1].kill()
        wait_until(lambda: manager.snapshot().service("comfyui#2").state != "connected", 10, message="the loss seen")
        after = [f"after-{n:02d}" for n in range(6)]
        operations = submit_all(manager, after)
        assert [operation.result["prompt_id"] for operation in operations] == after
        assert urls[1] not in {operation.instance for operation in operations}
        survivors = [url for url in urls if url != urls[1]]
        sent = [key for ids in ran(survivors, after).values() for key in ids]
        assert sorted(sent) == after, "each prompt ran exactly once, on a survivor"


def test_work_waits_while_every_server_is_down_and_goes_to_the_first_back(backend_servers: Any, plugins: Any, tmp_path: Any) -> None:
    servers = [backend_servers.start("comfyui", node_delay=0.0) for _ in range(2)]
    urls = [server.url for server in servers]
    with ServiceManager(qc.config_for(tmp_path, farm(urls)), plugins) as manager:
        members = manager.instances("comfyui")
        wait_until(lambda: connected(manager, members), 20, message="every server connected")
        for server in servers:
            server.kill()
        wait_until(lambda: not any(manager.snapshot().service(name).state == "connected" for name in members), 10, message="both lost")
        keys = [f"held-{n:02d}" for n in range(4)]
        handles = [manager.submit("comfyui", "comfyui.submit", {"workflow": qc.GRAPH}, idempotency_key=key) for key in keys]
        assert manager.snapshot().service("comfyui#1").queued_ops == 4  # accepted, waiting, not refused
        servers[1].start()
        assert [handle.wait(30)["prompt_id"] for handle in handles] == keys
        assert ran([urls[1]], keys) == {urls[1]: sorted(keys)}
