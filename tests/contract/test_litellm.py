"""LiteLLM proxy scenarios: the same for the proxy our fixtures run (mock models) and a real one (``MOVIE_DIRECTOR_REAL_LITELLM``).

A real proxy's key comes from ``MOVIE_DIRECTOR_LITELLM_API_KEY``; the scenarios use the
model the proxy lists first (our client's default), so they cost one short answer each.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from movie_director.check import adhoc_service
from movie_director.errors import NotFound
from movie_director_plugins.litellm.backend import LiteLLMBackend
from movie_director_plugins.litellm.client import LiteLLMClient
from movie_director_testing.contract import Target

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def client(litellm_target: Target) -> Iterator[LiteLLMClient]:
    with LiteLLMClient(adhoc_service(litellm_target.url, "litellm")) as llm:
        yield llm


def test_probe_version_capabilities(litellm_target: Target, client: LiteLLMClient, record_property) -> None:
    assert litellm_target.probe.kind == "litellm"
    sample = LiteLLMBackend().health(client)
    assert sample.ok and sample.version, sample
    chat_models = [c.id for c in LiteLLMBackend().capabilities(client) if c.name == "llm.chat"]
    assert chat_models
    record_property("note", f"{len(chat_models)} chat models")


def test_job_end_to_end(client: LiteLLMClient) -> None:
    result = client.chat("Say hello.", client.default_model())
    assert result.text and result.finish_reason and result.usage.total_tokens > 0


def test_progress_events(client: LiteLLMClient) -> None:
    """A streamed answer arrives in pieces that add up to the whole."""
    stream = client.stream_chat("Tell me a short story.", client.default_model())
    deltas = list(stream)
    assert deltas and "".join(deltas) == stream.result().text


def test_cancel_mid_stream(client: LiteLLMClient) -> None:
    """Stopping a stream early drops it cleanly, and the next call on the same client works."""
    stream = client.stream_chat("Tell me a short story.", client.default_model())
    first = next(stream)
    stream.close()
    assert first and len(stream.text) == len(first)
    assert client.chat("Say hello.", client.default_model()).text


def test_validation_errors_named(client: LiteLLMClient) -> None:
    with pytest.raises(NotFound) as caught:
        client.chat("hi", "no-such-model")
    assert "'no-such-model'" in caught.value.message and client.default_model() in caught.value.message
