"""The demo's pure parts: its workflow, its throw-away configuration, how an act reports a failure."""

from __future__ import annotations

import io
import os

import pytest

from movie_director import demo
from movie_director.discovery import DiscoveryResult
from movie_director.errors import ConfigurationProblem, JobFailed, MovieDirectorError, ServiceError
from movie_director.testing import envs

SAMPLER_NODES = ("CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode")


def object_info(checkpoints: list[str], nodes: tuple[str, ...] = SAMPLER_NODES) -> dict:
    info = {name: {"input": {"required": {}}} for name in nodes}
    if "CheckpointLoaderSimple" in info:
        info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = [checkpoints, {}]
    return info


def test_the_workflow_is_the_image_chain_plus_a_sampler_chain_only_with_a_checkpoint():
    plain = demo.demo_workflow("p", seed=1)
    assert [plain[key]["class_type"] for key in sorted(plain)] == ["EmptyImage", "ImageInvert", "SaveImage"]
    assert plain["2"]["inputs"]["image"] == ["1", 0] and plain["3"]["inputs"]["images"] == ["2", 0]

    sampled = demo.demo_workflow("p", seed=1, checkpoint="model.safetensors")
    assert {node["class_type"] for node in sampled.values()} >= {"KSampler", "VAEDecode", "CheckpointLoaderSimple"}
    assert sampled["8"]["inputs"]["steps"] == demo.SAMPLER_STEPS and sampled["4"]["inputs"]["ckpt_name"] == "model.safetensors"
    prefixes = {node["inputs"]["filename_prefix"] for node in sampled.values() if node["class_type"] == "SaveImage"}
    assert prefixes == {"p-inverted", "p-sampled"}


def test_two_seeds_never_share_a_cached_result():
    first, second = demo.demo_workflow("a", seed=101), demo.demo_workflow("a", seed=102)
    assert first["1"]["inputs"]["color"] != second["1"]["inputs"]["color"]
    assert all(0 <= workflow["1"]["inputs"]["color"] <= 0xFFFFFF for workflow in (first, second))


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (object_info(["sd15.safetensors", "other.safetensors"]), "sd15.safetensors"),
        (object_info([]), None),
        (object_info(["sd15.safetensors"], nodes=("CheckpointLoaderSimple", "KSampler")), None),  # no VAEDecode etc.
    ],
)
def test_first_checkpoint(info, expected):
    assert demo.first_checkpoint(info) == expected


def found(kind: str, port: int, transport: str) -> DiscoveryResult:
    return DiscoveryResult(kind=kind, url=f"http://127.0.0.1:{port}", transport=transport)


def test_the_demo_config_holds_only_what_was_found_and_never_reads_the_artists(tmp_path, monkeypatch):
    broken = tmp_path / "artist.yaml"
    broken.write_text("services: [not a mapping\n", encoding="utf-8")
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(broken))
    monkeypatch.setenv("MOVIE_DIRECTOR_COMFYUI_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("MOVIE_DIRECTOR_DATA_DIR", str(tmp_path / "artist-data"))
    results = {"comfyui": found("comfyui", 5001, "http+websocket"), "wan2gp": found("wan2gp", 5002, "webui"), "litellm": found("litellm", 5003, "http")}

    config = demo.demo_config(tmp_path, results, "sk-demo-secret")

    assert sorted(config.services) == sorted(demo.KINDS)
    assert {name: service.url for name, service in config.services.items()} == {name: result.url for name, result in results.items()}
    assert config.data_dir == tmp_path / "data" and config.file == tmp_path / "demo-config.json"
    assert config.service("wan2gp").transport == "webui"
    assert config.service("litellm").auth is not None and config.service("litellm").auth.env == demo.KEY_ENV
    assert all(service.health_interval == 1 and service.retries == 0 for service in config.services.values())
    assert "sk-demo-secret" not in (tmp_path / "demo-config.json").read_text(encoding="utf-8")


def test_exported_restores_the_previous_value(monkeypatch):
    monkeypatch.setenv("MD_TEST_EXPORTED", "before")
    with demo.exported("MD_TEST_EXPORTED", "during"):
        assert os.environ["MD_TEST_EXPORTED"] == "during"
    assert os.environ["MD_TEST_EXPORTED"] == "before"
    monkeypatch.delenv("MD_TEST_EXPORTED")
    with demo.exported("MD_TEST_EXPORTED", "during"):
        pass
    assert "MD_TEST_EXPORTED" not in os.environ


def test_an_act_names_itself_when_it_fails_and_raises_a_typed_error():
    stream = io.StringIO()
    console = demo.Console(stream)
    with pytest.raises(MovieDirectorError) as raised, console.act(2):
        raise ValueError("boom")
    assert isinstance(raised.value, ServiceError) and "boom" in raised.value.message
    with pytest.raises(JobFailed), console.act(4):
        raise JobFailed("The job failed.")
    text = stream.getvalue()
    assert "Act 2/6 · Discover them" in text and "✗ Act 2 (Discover them) failed." in text
    assert "✗ Act 4 (One job on each backend) failed." in text


def test_the_report_is_json_ready():
    report = demo.DemoReport(mode="embedded", jobs={"comfyui": {"files": ["a.png"]}}, timings_s={"total": 1.0})
    assert report.to_dict()["ok"] is True and report.to_dict()["jobs"]["comfyui"]["files"] == ["a.png"]


def test_missing_server_environments_stop_the_demo_before_anything_starts(monkeypatch):
    monkeypatch.setattr(envs, "is_built", lambda name: name != "litellm")
    with pytest.raises(ConfigurationProblem) as raised:
        demo.check_server_envs()
    assert "(litellm)" in raised.value.message
    assert raised.value.fix is not None and raised.value.fix.command == "python -m movie_director.testing.envs build litellm"
    monkeypatch.setattr(envs, "is_built", lambda name: True)
    demo.check_server_envs()
