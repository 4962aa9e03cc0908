"""Our LiteLLM client, backend and CLI against the real proxy (offline mock models, master key set).

The shared ``litellm_server`` serves the calls that leave it running; the kill and
restart test starts its own proxy in front of a slow local fake upstream, so there is
an answer long enough to be cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from movie_director.check import check_service
from movie_director.cli import main
from movie_director.configdata import Config, ServiceConfig
from movie_director.errors import AuthenticationFailed, ConnectionLost, NotFound
from movie_director.manager import ServiceManager
from movie_director_plugins.litellm.backend import LiteLLMBackend, OpenAICompatibleBackend
from movie_director_plugins.litellm.client import LiteLLMClient
from movie_director_plugins.litellm.operations import CHAT
from movie_director_plugins.litellm.usage import UsageMeter
from movie_director_testing.fake_openai import FakeOpenAI
from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY, STORY
from movie_director_testing.processes import ServerProcess, wait_until
from movie_director_testing.pytest_plugin import BackendServers

KEY_ENV = "MOVIE_DIRECTOR_LITELLM_API_KEY"


@pytest.fixture(autouse=True)
def master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, DEFAULT_MASTER_KEY)


def service(url: str, **changes: object) -> ServiceConfig:
    return ServiceConfig(**{"name": "litellm", "kind": "litellm", "url": url, "timeout": 20.0, "retries": 0, **changes})  # type: ignore[arg-type]


@pytest.fixture
def client(litellm_server: ServerProcess) -> Iterator[LiteLLMClient]:
    with LiteLLMClient(service(litellm_server.url), meter=UsageMeter()) as llm:
        yield llm


def test_chat_with_usage_and_cost(client: LiteLLMClient) -> None:
    result = client.chat("hi", "mock-gpt")
    assert (result.text, result.model, result.finish_reason) == ("hello", "mock-gpt", "stop")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (10, 20)
    assert result.usage.cost_usd is not None and result.usage.cost_usd > 0  # from x-litellm-response-cost
    totals = client.usage.snapshot()
    assert (totals.calls, totals.tokens_total, totals.cost_usd) == (1, 30, result.usage.cost_usd)


def test_stream_gives_the_story_in_pieces_with_usage(client: LiteLLMClient) -> None:
    stream = client.stream_chat([{"role": "user", "content": "tell me"}], "mock-story")
    deltas = list(stream)
    assert len(deltas) > 10 and "".join(deltas) == STORY  # é, — and ✓ arrive intact
    assert stream.finish_reason == "stop"
    assert stream.usage is not None and stream.usage.completion_tokens > 0 and (stream.usage.cost_usd or 0) > 0
    assert client.usage.snapshot().calls == 1


def test_default_model_and_model_lists(client: LiteLLMClient) -> None:
    assert {entry.id: entry.mode for entry in client.models()} == {"mock-gpt": "chat", "mock-story": "chat", "mock-ratelimit": "chat", "mock-embed": "embedding"}
    info = {entry.id: entry for entry in client.model_info()}
    assert info["mock-gpt"].input_usd_per_million_tokens == pytest.approx(0.15)
    assert client.chat("hi").model == "mock-gpt"  # the first chat model of /v1/models


def test_legacy_completions_are_offered(client: LiteLLMClient) -> None:
    assert client.completions("say hi", "mock-gpt").text == "hello"


def test_wrong_or_missing_key_is_authentication_failed(litellm_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-md-wrong-key-123456")
    with LiteLLMClient(service(litellm_server.url)) as llm, pytest.raises(AuthenticationFailed) as wrong:
        llm.chat("hi", "mock-gpt")
    assert "no database" in wrong.value.message  # LiteLLM's 400 no_db_connection
    assert "sk-md-wrong-key-123456" not in json.dumps(wrong.value.to_dict())
    monkeypatch.delenv(KEY_ENV)
    with LiteLLMClient(service(litellm_server.url)) as llm, pytest.raises(AuthenticationFailed) as missing:
        llm.models()
    assert "HTTP 401" in missing.value.message and missing.value.hints[0].startswith("No key was sent")


def test_unknown_model_is_named_with_the_available_ones(client: LiteLLMClient) -> None:
    with pytest.raises(NotFound) as caught:
        client.chat("hi", "nope")
    assert caught.value.message == "LiteLLM has no model named 'nope'. Available: mock-gpt, mock-story, mock-ratelimit, mock-embed."


def test_rate_limited_model_falls_back_to_the_next(litellm_server: ServerProcess) -> None:
    with LiteLLMClient(service(litellm_server.url, models=("mock-ratelimit", "mock-gpt"))) as llm:
        result = llm.chat("hi")
    assert (result.text, result.model) == ("hello", "mock-gpt")
    assert [(attempt.model, attempt.error.code) for attempt in result.failed] == [("mock-ratelimit", "rate_limited")]


def test_probe_health_and_capabilities(litellm_server: ServerProcess, client: LiteLLMClient) -> None:
    backend = LiteLLMBackend()
    probe = backend.probe(litellm_server.url, timeout=5)
    assert probe is not None and probe.kind == "litellm" and probe.details["db"] == "Not connected"
    client.chat("hi", "mock-gpt")
    sample = backend.health(client)
    assert sample.ok and sample.version == "1.108.7"
    assert sample.metrics["models_available"] == 4.0 and sample.metrics["tokens_total"] == 30.0 and sample.metrics["cost_usd"] > 0
    capabilities = {(capability.name, capability.id) for capability in backend.capabilities(client)}
    assert {("llm.chat", "mock-gpt"), ("llm.embeddings", "mock-embed")} <= capabilities
    assert OpenAICompatibleBackend().probe(litellm_server.url, timeout=5) is None  # its model list needs the key
    report = check_service(litellm_server.url, kind="litellm")
    assert report.ok and report.health is not None and report.health.ok


def test_cli_chat_and_models(litellm_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "chat", "hi", "--url", litellm_server.url, "--model", "mock-story", "--stream", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["text"] == STORY and answer["time_to_first_token_ms"] > 0
    assert main(["llm", "models", "--url", litellm_server.url, "--json"]) == 0
    assert [entry["id"] for entry in json.loads(capsys.readouterr().out)][:2] == ["mock-gpt", "mock-story"]


def test_proxy_killed_mid_stream_then_restarted(backend_servers: BackendServers) -> None:
    with FakeOpenAI(chunk_delay=0.05) as upstream:
        proxy = backend_servers.start("litellm", upstream_url=upstream.api_base)
        with LiteLLMClient(service(proxy.url)) as llm:
            received: list[str] = []
            with pytest.raises(ConnectionLost) as caught:
                for delta in llm.stream_chat("tell me", "upstream-gpt"):
                    received.append(delta)
                    if len(received) == 3:
                        proxy.kill()
            partial = caught.value.details["partial_text"]
            assert partial == "".join(received) and len(received) >= 3
            assert upstream.reply.startswith(partial) and len(partial) < len(upstream.reply)

            proxy.restart()
            assert llm.chat("hi", "mock-gpt").text == "hello"  # same client, same pool
            upstream.chunk_delay = 0.0
            assert "".join(llm.stream_chat("tell me", "upstream-gpt")) == upstream.reply


def test_chat_queued_through_the_service_manager_shows_on_the_dashboard(litellm_server: ServerProcess, tmp_path: Path) -> None:
    name = "dashboard-story"  # usage meters are per service name and process-wide: a name no other test uses
    config = Config({name: service(litellm_server.url, name=name, models=("mock-gpt",))}, "Local", ("Local",), None, tmp_path)
    with ServiceManager(config) as manager:
        wait_until(lambda: manager.snapshot().service(name).state == "connected", 30, message="connected")
        result = manager.submit(name, CHAT, {"prompt": "hi"}).wait(30)
        assert (result["text"], result["model"]) == ("hello", "mock-gpt")
        manager.check_now(name)
        metrics = wait_until(lambda: manager.snapshot().service(name).metrics if manager.snapshot().service(name).metrics.get("calls") else None, 30, message="usage in metrics")
    assert metrics["tokens_total"] == 30.0 and metrics["cost_usd"] > 0 and metrics["models_available"] == 4.0
