"""Several servers of one service: `instances` in a file, a comma list in the environment."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from movie_director.backend import Backend
from movie_director.check import service_for
from movie_director.config import load_config
from movie_director.configdata import LAYER_ENV, LAYER_FILE, InstanceConfig, ServiceConfig, member_configs
from movie_director.errors import InvalidConfigError


class _Comfy(Backend):
    kind = "comfyui"
    default_url = "http://127.0.0.1:8188"


KINDS = {"comfyui": _Comfy()}
FARM = """
services:
  comfyui:
    timeout: 45
    instances:
      - {url: "http://gpu-1.studio:8188", weight: 2, auth: {env: GPU1_TOKEN}}
      - {url: "http://gpu-2.studio:8188"}
"""


def file_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_single_url_is_one_instance() -> None:
    comfy = load_config(environ={}, kinds=KINDS).service("comfyui")
    assert comfy.instances == (InstanceConfig("http://127.0.0.1:8188"),)


def test_instances_from_a_file_keep_their_weights_auth_and_source(tmp_path: Path) -> None:
    path = file_with(tmp_path, FARM)
    comfy = load_config(environ={}, file=path, kinds=KINDS).service("comfyui")
    assert [(i.url, i.weight) for i in comfy.instances] == [("http://gpu-1.studio:8188", 2.0), ("http://gpu-2.studio:8188", 1.0)]
    assert comfy.instances[0].auth is not None and comfy.instances[0].auth.env == "GPU1_TOKEN"
    assert comfy.url == "http://gpu-1.studio:8188" and comfy.timeout == 45
    assert comfy.source_of("instances").layer == LAYER_FILE and comfy.source_of("url").layer == LAYER_FILE
    shown = comfy.to_dict(with_sources=True)
    assert [item["url"] for item in shown["instances"]] == ["http://gpu-1.studio:8188", "http://gpu-2.studio:8188"]
    assert shown["sources"]["instances"].startswith("file")


def test_a_comma_list_in_the_environment_gives_several_instances() -> None:
    variable = "MOVIE_DIRECTOR_COMFYUI_URL"
    comfy = load_config(environ={variable: "http://127.0.0.1:18188, http://127.0.0.1:18189,"}, kinds=KINDS).service("comfyui")
    assert [i.url for i in comfy.instances] == ["http://127.0.0.1:18188", "http://127.0.0.1:18189"]
    assert comfy.source_of("instances").layer == LAYER_ENV and comfy.source_of("instances").location == variable


def test_a_higher_layers_url_replaces_the_files_instances(tmp_path: Path) -> None:
    path = file_with(tmp_path, FARM)
    comfy = load_config(environ={"MOVIE_DIRECTOR_COMFYUI_URL": "http://127.0.0.1:8188"}, file=path, kinds=KINDS).service("comfyui")
    assert [i.url for i in comfy.instances] == ["http://127.0.0.1:8188"] and comfy.timeout == 45


def test_a_bad_element_of_the_list_names_the_variable_and_the_element() -> None:
    with pytest.raises(InvalidConfigError) as caught:
        load_config(environ={"MOVIE_DIRECTOR_COMFYUI_URL": "http://127.0.0.1:1,127.0.0.1:2"}, kinds=KINDS)
    (problem,) = caught.value.problems
    assert problem.pointer == "/services/comfyui/instances/1/url" and problem.value == "127.0.0.1:2"
    assert problem.source == "MOVIE_DIRECTOR_COMFYUI_URL"


def test_url_and_instances_together_are_refused_in_plain_words(tmp_path: Path) -> None:
    path = file_with(tmp_path, 'services:\n  comfyui:\n    url: "http://a:8188"\n    instances: [{url: "http://b:8188"}]\n')
    with pytest.raises(InvalidConfigError) as caught:
        load_config(environ={}, file=path, kinds=KINDS)
    assert "url and instances together are not allowed" in str(caught.value)


@pytest.mark.parametrize("entry", ['[]', '[{weight: 2}]', '[{url: "http://a:1", weight: 0}]', '[{url: "http://a:1", colour: red}]'])
def test_malformed_instance_lists_are_refused_by_the_schema(tmp_path: Path, entry: str) -> None:
    path = file_with(tmp_path, f"services:\n  comfyui:\n    instances: {entry}\n")
    with pytest.raises(InvalidConfigError) as caught:
        load_config(environ={}, file=path, kinds=KINDS)
    assert all(problem.pointer.startswith("/services/comfyui/instances") for problem in caught.value.problems)


def test_replacing_the_url_makes_the_service_that_one_server_again() -> None:
    farm = ServiceConfig("comfyui", "comfyui", "http://a:8188", instances=(InstanceConfig("http://a:8188"), InstanceConfig("http://b:8188")))
    assert len(farm.instances) == 2
    assert replace(farm, url="http://c:8188").instances == (InstanceConfig("http://c:8188"),)


def test_each_server_is_a_member_service_named_as_status_and_services_show_it(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(FARM, encoding="utf-8")
    config = load_config(file=path, environ={}, kinds=KINDS)
    members = member_configs(config.service("comfyui"))
    assert [(member.name, member.url, member.timeout) for member in members] == [
        ("comfyui#1", "http://gpu-1.studio:8188", 45),
        ("comfyui#2", "http://gpu-2.studio:8188", 45),
    ]
    assert members[0].auth is not None and members[0].auth.env == "GPU1_TOKEN"
    assert [member.instances for member in members] == [(instance,) for instance in config.service("comfyui").instances]
    assert service_for("comfyui#2", config=config).url == "http://gpu-2.studio:8188"  # `check comfyui#2`
    single = replace(members[0], name="solo", instances=())
    assert member_configs(single) == [single]
