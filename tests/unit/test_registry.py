"""The service registry: routing, requirements, events, config/discovery feeds, persistence, threads."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from movie_director.backend import Capability, Status
from movie_director.capabilities import (
    IMAGE_GENERATE,
    LLM_CHAT,
    VIDEO_GENERATE,
    standard,
)
from movie_director.check import adhoc_service
from movie_director.configdata import InstanceConfig
from movie_director.discovery import DiscoveryResult
from movie_director.errors import InvalidConfigError
from movie_director.plugins import PluginManager
from movie_director.registry import (
    FORMAT_VERSION,
    EventType,
    Instance,
    Registry,
    RegistryEvent,
    read_instances,
    service_name,
)

IMAGE = standard(IMAGE_GENERATE, id="KSampler", details={"models": ["sdxl.safetensors", "flux.safetensors"]})


def comfy(name: str, port: int, **fields: object) -> Instance:
    return Instance(name, "comfyui", f"http://127.0.0.1:{port}", capabilities=(IMAGE,), **fields)  # type: ignore[arg-type]


@pytest.fixture
def three() -> Registry:
    return Registry([comfy("gpu-a", 8188), comfy("gpu-b", 8189), comfy("gpu-c", 8190)])


def test_routes_to_the_least_loaded_healthy_instance(three: Registry) -> None:
    three.update_health("gpu-a", Status.ONLINE, queue_depth=3, latency_ms=5)
    three.update_health("gpu-b", Status.ONLINE, queue_depth=1, latency_ms=40)
    three.update_health("gpu-c", Status.ONLINE, queue_depth=1, latency_ms=20)
    assert three.find(IMAGE_GENERATE).name == "gpu-c"  # equal queues: lower latency
    three.update_health("gpu-c", Status.OFFLINE)
    assert three.find(IMAGE_GENERATE).name == "gpu-b"  # offline is skipped
    three.update_health("gpu-b", Status.DEGRADED, queue_depth=0, latency_ms=1)
    assert three.find(IMAGE_GENERATE).name == "gpu-a"  # online beats degraded, however idle
    assert [instance.name for instance in three.ranked(IMAGE_GENERATE)] == ["gpu-a", "gpu-b"]
    three.update_health("gpu-a", "offline")
    three.update_health("gpu-b", "offline")
    assert three.find(IMAGE_GENERATE) is None
    assert three.ranked(IMAGE_GENERATE) == []


def test_an_instance_never_checked_comes_after_checked_ones_and_priority_breaks_ties() -> None:
    registry = Registry([comfy("fresh", 8188), comfy("checked", 8189, status=Status.ONLINE, queue_depth=4), comfy("preferred", 8190, status=Status.ONLINE, queue_depth=4, priority=5)])
    assert registry.find(IMAGE_GENERATE).name == "preferred"
    assert registry.ranked(IMAGE_GENERATE)[-1].name == "fresh"


def test_requirements_select_by_id_limits_details_and_kind() -> None:
    llm = Instance("llm", "litellm", "http://127.0.0.1:4000", status=Status.ONLINE, capabilities=(
        standard(LLM_CHAT, id="mock-gpt", limits={"max_tokens": (1, 16384)}),
        standard(LLM_CHAT, id="big", limits={"max_tokens": (1, 200000)}),
    ))
    video = Instance("wan", "wan2gp", "http://127.0.0.1:7860", status=Status.ONLINE, capabilities=(
        standard(VIDEO_GENERATE, id="t2v", details={"mode": "t2v"}),
    ))
    registry = Registry([llm, video, comfy("gpu-a", 8188, status=Status.ONLINE)])
    assert registry.find(LLM_CHAT, id="mock-gpt") is llm
    assert registry.find(LLM_CHAT, id="nope") is None
    assert registry.find(LLM_CHAT, max_tokens=100000) is llm  # the big model fits
    assert registry.find(LLM_CHAT, id="mock-gpt", max_tokens=100000) is None
    assert registry.find(VIDEO_GENERATE, mode="t2v", width=1280, frames=81) is video
    assert registry.find(VIDEO_GENERATE, mode="i2v") is None
    assert registry.find(VIDEO_GENERATE, height=2160) is None  # above the 1080 limit
    assert registry.find(IMAGE_GENERATE, models="flux.safetensors").name == "gpu-a"
    assert registry.find(IMAGE_GENERATE, models="missing.safetensors") is None
    assert registry.find(IMAGE_GENERATE, undeclared="x") is None
    assert registry.find("comfyui").name == "gpu-a"  # a kind matches its instances
    assert registry.find(LLM_CHAT, kind="comfyui") is None
    assert registry.find("no.such.capability") is None


def test_change_events_for_appear_capability_change_and_disappear() -> None:
    registry = Registry()
    events: list[RegistryEvent] = []
    unsubscribe = registry.subscribe(events.append)
    registry.add(comfy("gpu-a", 8188))
    registry.update_health("gpu-a", Status.ONLINE, 2, 10.0)  # health alone is not a registry event
    registry.set_capabilities("gpu-a", [IMAGE, Capability("comfyui.node", "KSampler")], version="0.3.64")
    registry.set_capabilities("gpu-a", [IMAGE, Capability("comfyui.node", "KSampler")])  # unchanged: no event
    registry.remove("gpu-a")
    assert [event.type for event in events] == [EventType.APPEARED, EventType.CAPABILITIES_CHANGED, EventType.DISAPPEARED]
    assert events[1].previous.capabilities == (IMAGE,)
    assert events[1].instance.version == "0.3.64"
    assert events[1].instance.status is Status.ONLINE
    unsubscribe()
    registry.add(comfy("gpu-b", 8189))
    assert len(events) == 3


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    registry = Registry()
    heard: list[str] = []

    def broken(event: RegistryEvent) -> None:
        raise RuntimeError("listener bug")

    registry.subscribe(broken)
    registry.subscribe(lambda event: heard.append(event.instance.name))
    registry.add(comfy("gpu-a", 8188))
    assert heard == ["gpu-a"]


def test_unknown_services_are_reported_not_invented() -> None:
    registry = Registry()
    assert registry.update_health("ghost", Status.ONLINE) is False
    assert registry.set_capabilities("ghost", [IMAGE]) is False
    assert registry.remove("ghost") is False
    assert len(registry) == 0


def test_discovery_names_new_instances_and_forgets_those_gone() -> None:
    registry = Registry()
    first = DiscoveryResult("comfyui", "http://127.0.0.1:8188", "0.3.64", 3.0, capabilities=(IMAGE,))
    second = DiscoveryResult("comfyui", "http://127.0.0.1:8189", "0.3.64", 4.0, capabilities=None)
    unknown = DiscoveryResult("unknown", "http://127.0.0.1:9000", seen="HTTP 200")
    registry.record_discovery([first, second, unknown])
    assert [instance.name for instance in registry.instances()] == ["comfyui", "comfyui-8189"]
    assert registry.get("comfyui").status is Status.ONLINE and registry.get("comfyui").latency_ms == 3.0
    assert registry.get("comfyui-8189").capabilities == ()
    registry.record_discovery([first], scanned_urls=[first.url, second.url])
    assert registry.get("comfyui-8189") is None  # scanned again and closed: gone


def test_config_and_discovery_meet_under_the_configured_name() -> None:
    manager = PluginManager(entry_points=[])
    registry = Registry()
    registry.record_discovery([DiscoveryResult("comfyui", "http://127.0.0.1:8188", "0.3.64", 3.0, capabilities=(IMAGE,))])
    studio = replace(adhoc_service("http://127.0.0.1:8188", "comfyui", manager, priority=3), name="studio")
    registry.sync_config([studio])
    instance = registry.get("studio")
    assert registry.get("comfyui") is None
    assert instance.capabilities == (IMAGE,) and instance.priority == 3
    assert instance.sources == {"config", "discovery"}
    registry.record_discovery([], scanned_urls=["http://127.0.0.1:8188"])
    assert registry.get("studio").status is Status.OFFLINE  # configured: kept, but offline
    registry.sync_config([])
    assert registry.get("studio").sources == {"discovery"}
    registry.sync_config([replace(studio, name="disabled", enabled=False)])
    assert registry.get("disabled") is None


def test_a_configured_service_moved_to_another_url_takes_over_what_was_found_there() -> None:
    manager = PluginManager(entry_points=[])
    default = adhoc_service("http://127.0.0.1:8188", "comfyui", manager)
    registry = Registry()
    registry.sync_config([default])
    registry.record_discovery([DiscoveryResult("comfyui", "http://127.0.0.1:8189", "0.3.64", 3.0, capabilities=(IMAGE,))])
    assert [instance.name for instance in registry.instances()] == ["comfyui", "comfyui-8189"]
    registry.update_health("comfyui", Status.OFFLINE)
    registry.sync_config([replace(default, url="http://127.0.0.1:8189")])  # e.g. after adopting the found one
    [instance] = registry.instances()
    assert (instance.name, instance.url, instance.status, instance.capabilities) == ("comfyui", "http://127.0.0.1:8189", Status.ONLINE, (IMAGE,))
    registry.sync_config([replace(default, url="http://127.0.0.1:8190")])
    assert registry.get("comfyui").capabilities == () and registry.get("comfyui").status is Status.UNKNOWN  # stale state dropped


def test_each_server_of_a_service_is_an_instance_named_as_the_manager_names_it() -> None:
    manager = PluginManager(entry_points=[])
    registry = Registry()
    single = adhoc_service("http://127.0.0.1:8188", "comfyui", manager)
    registry.sync_config([single])
    registry.record_discovery([DiscoveryResult("comfyui", "http://127.0.0.1:8189", "0.3.64", 3.0, capabilities=(IMAGE,))])
    farm = replace(single, instances=(InstanceConfig("http://127.0.0.1:8188"), InstanceConfig("http://127.0.0.1:8189")))
    registry.sync_config([farm])
    listed = {instance.name: instance for instance in registry.instances()}
    assert {name: instance.url for name, instance in listed.items()} == {"comfyui#1": "http://127.0.0.1:8188", "comfyui#2": "http://127.0.0.1:8189"}
    assert listed["comfyui#2"].capabilities == (IMAGE,) and listed["comfyui#2"].sources == {"config", "discovery"}  # the found one became the second server
    registry.sync_config([single])
    assert registry.get("comfyui").url == "http://127.0.0.1:8188"
    assert registry.get("comfyui#2").sources == {"discovery"}  # back to one server: the other is only what discovery found


def test_two_configured_names_for_one_url_each_keep_their_instance() -> None:
    manager = PluginManager(entry_points=[])
    first = replace(adhoc_service("http://127.0.0.1:8188", "comfyui", manager), name="first")
    registry = Registry()
    registry.sync_config([first, replace(first, name="second")])
    registry.sync_config([first, replace(first, name="second")])
    assert [instance.name for instance in registry.instances()] == ["first", "second"]


def test_service_names_follow_the_config_pattern() -> None:
    assert service_name("comfyui", "http://127.0.0.1:8188", []) == "comfyui"
    assert service_name("comfyui", "http://[::1]:8189", ["comfyui"]) == "comfyui-8189"
    assert service_name("comfyui", "http://127.0.0.1:8189", ["comfyui", "comfyui-8189"]) == "comfyui-8189-2"


def test_persistence_round_trip(tmp_path: Path) -> None:
    original = Registry([
        comfy("gpu-a", 8188, version="0.3.64", priority=2, tags=("studio",), sources=frozenset({"config"})),
        Instance("llm", "litellm", "http://[::1]:4000", capabilities=(standard(LLM_CHAT, id="mock-gpt", limits={"max_tokens": (1, 16384)}),)),
    ])
    original.update_health("gpu-a", Status.ONLINE, 2, 12.0)
    path = original.save(tmp_path / "state" / "registry.json")
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["version"] == FORMAT_VERSION == "1.0"
    loaded = Registry()
    assert loaded.load(path) == 2
    for before, after in zip(original.instances(), loaded.instances()):
        assert (after.name, after.kind, after.url, after.version, after.priority, after.tags, after.sources) == (
            before.name, before.kind, before.url, before.version, before.priority, before.tags, before.sources,
        )
        assert after.capabilities == before.capabilities
        assert after.status is Status.UNKNOWN  # health is live state, not trusted across a restart
    assert loaded.find(LLM_CHAT, id="mock-gpt", max_tokens=16384).name == "llm"
    assert [entry.name for entry in tmp_path.joinpath("state").iterdir()] == ["registry.json"]  # no temp file left


def test_other_format_versions_are_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": "2.0", "instances": []}), encoding="utf-8")
    with pytest.raises(InvalidConfigError) as caught:
        Registry().load(path)
    assert "'2.0'" in caught.value.message and "'1.0'" in caught.value.message
    assert any("Delete" in hint for hint in caught.value.hints)
    path.write_text(json.dumps({"version": "1.0", "instances": [{"kind": "comfyui"}]}), encoding="utf-8")
    with pytest.raises(InvalidConfigError, match="damaged"):
        read_instances(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidConfigError, match="cannot be read"):
        read_instances(path)


def test_saved_files_hold_no_credentials(tmp_path: Path) -> None:
    registry = Registry([Instance("proxy", "litellm", "http://user:hunter2secret@127.0.0.1:4000")])
    text = registry.save(tmp_path / "registry.json").read_text(encoding="utf-8")
    assert "hunter2secret" not in text


def test_sixteen_threads_reading_and_writing() -> None:
    registry = Registry([comfy(f"gpu-{number}", 8188 + number, status=Status.ONLINE) for number in range(4)])
    rounds = 300
    failures: list[BaseException] = []
    seen_names: set[str] = set()
    start = threading.Barrier(16)

    def writer(number: int) -> None:
        start.wait()
        for step in range(rounds):
            name = f"gpu-{number % 4}"
            registry.update_health(name, Status.ONLINE if step % 3 else Status.OFFLINE, queue_depth=step % 5, latency_ms=float(step))
            if number >= 4:  # churn: extra instances come and go
                extra = f"extra-{number}"
                if step % 2 == 0:
                    registry.add(comfy(extra, 9000 + number, status=Status.ONLINE))
                else:
                    registry.remove(extra)
                registry.set_capabilities(name, [IMAGE] if step % 2 else [IMAGE, Capability("comfyui.node", str(step))])

    def reader() -> None:
        start.wait()
        for _ in range(rounds):
            found = registry.find(IMAGE_GENERATE)
            if found is not None:
                assert found.status is not Status.OFFLINE
                assert any(capability.name == IMAGE_GENERATE for capability in found.capabilities)
                seen_names.add(found.name)
            for instance in registry.ranked(IMAGE_GENERATE, width=512):
                assert instance.healthy

    def guarded(target, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(writer, number)) for number in range(8)]
    threads += [threading.Thread(target=guarded, args=(reader,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert seen_names  # the readers did find instances while the writers ran
    assert {instance.name for instance in registry.instances()} == {"gpu-0", "gpu-1", "gpu-2", "gpu-3"}  # churn ended removed
    for number in range(4):
        assert registry.get(f"gpu-{number}").latency_ms == float(rounds - 1)
