"""The generic gradio kind's probe: a Gradio app from its /config, anything else is not one."""

from __future__ import annotations

import pytest
import responses

from movie_director.errors import ConnectionRefused
from movie_director_plugins.gradio.backend import GradioBackend, label_of
from movie_director_plugins.wan2gp.backend import Wan2GPBackend
from movie_director_testing.processes import free_port

URL = f"http://127.0.0.1:{free_port()}"
CONFIG = {"version": "6.31.0", "protocol": "sse_v3", "api_prefix": "/gradio_api", "title": "voices", "components": [{"id": 1}], "dependencies": []}


@responses.activate
def test_probe_reads_version_protocol_and_prefix() -> None:
    responses.get(f"{URL}/config", json=CONFIG)
    found = GradioBackend().probe(URL + "/", 2)
    assert found is not None
    assert (found.kind, found.url, found.version, found.transport) == ("gradio", URL, "6.31.0", "gradio")
    assert found.details == {"title": "voices", "protocol": "sse_v3", "api_prefix": "/gradio_api", "components": 1, "events": 0}


@pytest.mark.parametrize(
    "reply",
    [
        {"json": {"system": {"comfyui_version": "0.3.64"}}},
        {"body": "<html>a web page</html>", "content_type": "text/html"},
        {"body": "Not Found", "status": 404},
    ],
)
@responses.activate
def test_other_services_are_not_gradio(reply: dict[str, object]) -> None:
    responses.get(f"{URL}/config", **reply)
    assert GradioBackend().probe(URL, 2) is None


def test_nothing_listening_is_a_typed_error() -> None:
    with pytest.raises(ConnectionRefused):
        GradioBackend().probe(URL, 1)


def test_wan2gp_is_asked_before_the_generic_kind() -> None:
    assert Wan2GPBackend.probe_priority > GradioBackend.probe_priority


def test_discovery_ports_follow_the_spec() -> None:
    """Wan2GP's web UI on 7860–7862, headless on our hint's 8765 or FastMCP's 8000; generic Gradio apps above."""
    assert Wan2GPBackend.default_ports == (7860, 7861, 7862, 8765, 8000)
    assert GradioBackend.default_ports == (7863, 7864, 7865, 7866, 7867, 7868)
    assert not set(GradioBackend.default_ports) & set(Wan2GPBackend.default_ports)


def test_label_names_configured_apps() -> None:
    from dataclasses import replace

    from movie_director.check import adhoc_service

    service = adhoc_service(URL, "gradio")
    assert label_of(service) == f"the Gradio app at {URL}"  # messages capitalise it when it opens a sentence
    assert label_of(replace(service, name="voice-clone")) == "voice-clone"
