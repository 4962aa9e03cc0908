"""``movie-director status``: table, JSON, watch mode and exit codes, on fake services."""

from __future__ import annotations

import functools
import io
import json
from dataclasses import replace

import pytest

from movie_director import config as config_module
from movie_director import manager as manager_module
from movie_director.cli import main, status_cmd
from movie_director.configdata import InstanceConfig
from movie_director.manager import ServiceManager
from movie_director_testing.fake_backend import FakeBackend, fake_config, fake_plugins


class CriticalFake(FakeBackend):
    critical = True


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Point the command at two fake services (one down) instead of the configured ones."""
    backend = CriticalFake()
    config = fake_config(tmp_path, {"comfy": "http://127.0.0.1:9001", "llm": "http://127.0.0.1:9002"})
    backend.service_at("http://127.0.0.1:9002").up = False
    monkeypatch.setattr(config_module, "load_config", lambda: config)
    monkeypatch.setattr(manager_module, "ServiceManager", functools.partial(ServiceManager, plugins=fake_plugins(backend)))
    return backend


def test_the_table_has_one_row_per_service_and_says_why_one_is_down(fakes, capsys):
    assert main(["status"]) == 3  # llm is critical here and refuses: `status || alert` must fire
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["service", "state", "status"]
    assert lines[1].split()[:3] == ["comfy", "connected", "online"]
    assert lines[2].split()[:3] == ["llm", "disconnected", "degraded"]
    assert "llm: Fake is not running" in out
    assert "llm: waiting for Fake (llm) — 0 queued, next try in " in out
    assert lines[-1] == "system: degraded"


def test_json_output(fakes, capsys):
    assert main(["status", "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert [service["name"] for service in data["services"]] == ["comfy", "llm"]
    assert data["services"][1]["last_error"]["code"] == "connection_refused"


def test_exit_code_3_already_after_the_first_refused_check_of_a_critical_service(fakes, capsys):
    assert main(["status"]) == 3
    assert capsys.readouterr().out.splitlines()[-1] == "system: degraded"  # the rule table waits for more failures; the exit code does not


def test_exit_code_1_when_only_a_non_critical_service_is_down(fakes, monkeypatch):
    monkeypatch.setattr(manager_module, "ServiceManager", functools.partial(ServiceManager, plugins=fake_plugins(_down_at_9002(FakeBackend()))))
    assert main(["status"]) == 1


def test_exit_code_0_when_every_service_answers(fakes, monkeypatch):
    fakes.service_at("http://127.0.0.1:9002").up = True
    assert main(["status"]) == 0


def _down_at_9002(backend: FakeBackend) -> FakeBackend:
    backend.service_at("http://127.0.0.1:9002").up = False
    return backend


def test_exit_code_3_when_a_critical_service_is_offline(fakes, monkeypatch, capsys):
    fakes.service_at("http://127.0.0.1:9001").up = False
    original = manager_module.ServiceManager

    def offline_after_three(*args, **kwargs):
        manager = original(*args, **kwargs)
        for service in manager._services.values():  # noqa: SLF001 - fast-forward the rule table
            service.tracker.consecutive_failures = 2
        return manager

    monkeypatch.setattr(manager_module, "ServiceManager", offline_after_three)
    assert main(["status"]) == 3
    assert capsys.readouterr().out.splitlines()[-1] == "system: offline"


def test_watch_prints_changes_and_json_lines(fakes):
    manager = manager_module.ServiceManager(config_module.load_config())
    with manager:
        manager.wait_checked(10)
        stream = io.StringIO()
        status_cmd.watch(manager, interval=0.01, duration=0.05, as_json=False, stream=stream)
        text = stream.getvalue()
        assert "comfy: unknown → connected" in text and "llm: unknown → degraded" in text
        assert text.count("system:") >= 1
        stream = io.StringIO()
        status_cmd.watch(manager, interval=0.01, duration=0.03, as_json=True, stream=stream)
        lines = stream.getvalue().splitlines()
        assert len(lines) >= 2 and all(json.loads(line)["services"] for line in lines)


def test_watch_redraws_in_place_on_a_terminal(fakes):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    manager = manager_module.ServiceManager(config_module.load_config())
    with manager:
        manager.wait_checked(10)
        stream = Terminal()
        status_cmd.watch(manager, interval=0.01, duration=0.05, as_json=False, stream=stream)
        table_lines = status_cmd.render(manager.snapshot()).count("\n")
        assert f"\x1b[{table_lines}F{status_cmd.CLEAR_BELOW}" in stream.getvalue()


def test_a_service_with_several_servers_shows_a_row_per_server_and_what_they_share(tmp_path, monkeypatch, capsys):
    backend = FakeBackend()
    config = fake_config(tmp_path, {"comfy": "http://127.0.0.1:9001", "llm": "http://127.0.0.1:9003"})
    farm = replace(config.services["comfy"], instances=(InstanceConfig("http://127.0.0.1:9001"), InstanceConfig("http://127.0.0.1:9002", weight=2.0)))
    monkeypatch.setattr(config_module, "load_config", lambda: replace(config, services={**config.services, "comfy": farm}))
    monkeypatch.setattr(manager_module, "ServiceManager", functools.partial(ServiceManager, plugins=fake_plugins(backend)))
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines[1:4]] == [
        ["comfy#1", "connected", "online"],
        ["comfy#2", "connected", "online"],
        ["llm", "connected", "online"],  # a service with one server reads as before
    ]
    assert "  comfy: 2 servers (comfy#1 http://127.0.0.1:9001, comfy#2 http://127.0.0.1:9002), 0 queued ops shared; each goes to the least loaded ready one" in lines
    assert not any(line.startswith("  llm:") for line in lines)

    assert main(["status", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["services"]}
    assert {name: (row["group"], row["url"], row["in_flight"]) for name, row in rows.items()} == {
        "comfy#1": ("comfy", "http://127.0.0.1:9001", 0),
        "comfy#2": ("comfy", "http://127.0.0.1:9002", 0),
        "llm": ("llm", "http://127.0.0.1:9003", 0),
    }


def test_the_queue_cell_of_one_of_several_servers_adds_what_was_sent_to_it(tmp_path):
    config = fake_config(tmp_path, {"comfy": "http://127.0.0.1:9001"})
    farm = replace(config.services["comfy"], instances=(InstanceConfig("http://127.0.0.1:9001"), InstanceConfig("http://127.0.0.1:9002")))
    manager = ServiceManager(replace(config, services={"comfy": farm}), plugins=fake_plugins(FakeBackend()))
    try:
        member = replace(manager.snapshot().services[1], backend_queue_depth=1.0, in_flight=2)
    finally:
        manager.close()
    assert (member.name, status_cmd._row(member, now=0.0)[6]) == ("comfy#2", "1 +2 sent")
    alone = replace(member, name="comfy")
    assert status_cmd._row(alone, now=0.0)[6] == "1"  # one server: the column reads as it always did


@pytest.mark.parametrize(("down", "code"), [(["http://127.0.0.1:9001"], 1), (["http://127.0.0.1:9001", "http://127.0.0.1:9002"], 3)])
def test_a_critical_service_is_unreachable_only_when_every_server_of_it_is(tmp_path, monkeypatch, down, code):
    backend = CriticalFake()
    for url in down:
        backend.service_at(url).up = False
    config = fake_config(tmp_path, {"comfy": "http://127.0.0.1:9001"})
    farm = replace(config.services["comfy"], instances=(InstanceConfig("http://127.0.0.1:9001"), InstanceConfig("http://127.0.0.1:9002")))
    monkeypatch.setattr(config_module, "load_config", lambda: replace(config, services={"comfy": farm}))
    monkeypatch.setattr(manager_module, "ServiceManager", functools.partial(ServiceManager, plugins=fake_plugins(backend)))
    assert main(["status"]) == code  # one box of two down: the work goes to the other, `status || alert` stays quiet
