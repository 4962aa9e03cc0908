"""The litellm and openai backends: probe, health, capabilities, registration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from movie_director.backend import Capability
from movie_director.capabilities import LLM_CHAT, STANDARD, Limit, limits_of, standard
from movie_director.configdata import ServiceConfig
from movie_director.errors import ConnectionRefused
from movie_director.plugins import get_plugin_manager
from movie_director_plugins.litellm.backend import LiteLLMBackend, OpenAICompatibleBackend, capability_of
from movie_director_plugins.litellm.client import LiteLLMClient, ModelEntry
from movie_director_plugins.litellm.usage import Usage, UsageMeter
from movie_director_testing.fake_openai import FakeOpenAI
from movie_director_testing.processes import free_port

URL = "http://127.0.0.1:4000"
KEY = "sk-unit-backend-key-42"
MODEL_LIST = {"data": [{"id": "mock-gpt", "mode": "chat"}, {"id": "mock-embed", "mode": "embedding"}]}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[LiteLLMClient]:
    monkeypatch.setenv("MOVIE_DIRECTOR_LITELLM_API_KEY", KEY)
    meter = UsageMeter()
    meter.record(Usage(10, 20, 0.5))
    with LiteLLMClient(ServiceConfig("litellm", "litellm", URL, retries=0), meter=meter) as llm:
        yield llm


def litellm_routes(readiness: dict[str, object] | None = None, status: int = 200) -> None:
    responses.get(URL + "/health/liveliness", json="I'm alive!")
    responses.get(URL + "/health/readiness", json=readiness or {"status": "healthy", "db": "Not connected"}, status=status)
    responses.get(URL + "/health/readiness/details", json=readiness or {"status": "healthy", "db": "Not connected", "litellm_version": "1.108.7"}, status=status)


# -- probe ------------------------------------------------------------------------------


@responses.activate
def test_probe_recognises_a_litellm_proxy_by_its_health_routes() -> None:
    litellm_routes({"status": "healthy", "db": "Not connected", "litellm_version": "1.50.0"})
    result = LiteLLMBackend().probe(URL + "/v1", timeout=2)
    assert result is not None
    assert (result.kind, result.url, result.version, result.transport) == ("litellm", URL, "1.50.0", "http")
    assert result.details == {"status": "healthy", "db": "Not connected"}


@responses.activate
@pytest.mark.parametrize(
    ("alive", "readiness"),
    [
        ({"body": "<html>I'm alive!</html>", "content_type": "text/html"}, {"status": "healthy"}),  # a web page
        ({"json": {"ok": True}}, {"status": "healthy"}),  # JSON, but not LiteLLM's
        ({"status": 404, "json": {"detail": "Not Found"}}, {"status": "healthy"}),  # no such route
        ({"json": "I'm alive!"}, {"ready": True}),  # readiness of another shape
    ],
)
def test_probe_says_not_mine_for_other_answers(alive: dict[str, object], readiness: object) -> None:
    responses.get(URL + "/health/liveliness", **alive)
    responses.get(URL + "/health/readiness", json=readiness)
    assert LiteLLMBackend().probe(URL, timeout=2) is None


def test_another_openai_server_is_not_litellm_but_is_openai() -> None:
    with FakeOpenAI() as fake:
        assert LiteLLMBackend().probe(fake.url, timeout=2) is None
        result = OpenAICompatibleBackend().probe(fake.api_base, timeout=2)
    assert result is not None
    assert (result.kind, result.url, result.details) == ("openai", fake.url, {"models": 1})


@responses.activate
def test_openai_probe_wants_a_model_list() -> None:
    responses.get(URL + "/v1/models", json={"data": [{"name": "no id"}]})
    responses.get(URL + "/v1/models", status=401, json={"error": "Unauthorized"})
    assert OpenAICompatibleBackend().probe(URL, timeout=2) is None
    assert OpenAICompatibleBackend().probe(URL, timeout=2) is None


@pytest.mark.parametrize("backend", [LiteLLMBackend(), OpenAICompatibleBackend()])
def test_probe_raises_when_nothing_listens(backend: LiteLLMBackend) -> None:
    with pytest.raises(ConnectionRefused):
        backend.probe(f"http://127.0.0.1:{free_port()}", timeout=2)


# -- health -----------------------------------------------------------------------------


@responses.activate
def test_health_reports_usage_models_and_version_without_calling_slash_health(client: LiteLLMClient) -> None:
    litellm_routes({"status": "healthy", "db": "connected", "litellm_version": "1.108.7"})
    responses.get(URL + "/v1/models", json=MODEL_LIST)
    sample = LiteLLMBackend().health(client)
    assert sample.ok and sample.error is None and sample.version == "1.108.7"
    assert sample.metrics == {
        "tokens_total": 30.0,
        "prompt_tokens": 10.0,
        "completion_tokens": 20.0,
        "cost_usd": 0.5,
        "calls": 1.0,
        "models_available": 2.0,
        "db_connected": 1.0,
    }
    assert all(not call.request.url.rstrip("/").endswith("/health") for call in responses.calls)


@responses.activate
def test_health_not_ready_when_the_database_is_down(client: LiteLLMClient) -> None:
    litellm_routes({"status": "healthy", "db": "disconnected"}, status=503)
    responses.get(URL + "/v1/models", json=MODEL_LIST)
    sample = LiteLLMBackend().health(client)
    assert not sample.ok
    assert sample.metrics["db_connected"] == 0.0
    assert sample.error is not None and "database 'disconnected'" in sample.error["message"]


@responses.activate
def test_health_of_a_refused_key_is_a_failed_sample_not_an_exception(client: LiteLLMClient) -> None:
    litellm_routes()
    responses.get(URL + "/v1/models", status=400, json={"error": {"message": "No connected db.", "type": "no_db_connection", "code": "400"}})
    sample = LiteLLMBackend().health(client)
    assert not sample.ok
    assert sample.error is not None and sample.error["code"] == "authentication_failed"
    assert sample.metrics["tokens_total"] == 30.0


def test_health_raises_when_the_proxy_is_gone() -> None:
    with LiteLLMClient(ServiceConfig("litellm", "litellm", f"http://127.0.0.1:{free_port()}", retries=0)) as llm, pytest.raises(ConnectionRefused):
        LiteLLMBackend().health(llm)


def test_openai_health_and_capabilities_come_from_the_model_list() -> None:
    backend = OpenAICompatibleBackend()
    with FakeOpenAI() as fake:
        connection = backend.connect(ServiceConfig("openai", "openai", fake.url, retries=0))
        sample = backend.health(connection)
        capabilities = backend.capabilities(connection)
        connection.close()
    assert sample.ok and sample.metrics["models_available"] == 1.0
    assert capabilities == [standard(LLM_CHAT, "up-model", details={"mode": "chat"})]
    assert not backend.is_usable(connection)


# -- capabilities -----------------------------------------------------------------------


@responses.activate
def test_capabilities_list_chat_and_embedding_models_with_limits(client: LiteLLMClient) -> None:
    info = {"mode": "chat", "max_tokens": 16384, "max_input_tokens": 128000, "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07}
    responses.get(URL + "/v1/model/info", json={"data": [{"model_name": "mock-gpt", "model_info": info}, {"model_name": "mock-embed", "model_info": {"mode": "embedding"}}]})
    backend = LiteLLMBackend()
    assert backend.is_usable(client)
    chat, embeddings = backend.capabilities(client)
    assert (chat.name, chat.id, embeddings) == ("llm.chat", "mock-gpt", Capability("llm.embeddings", "mock-embed", details={"mode": "embedding"}))
    assert chat.details == {"mode": "chat", "max_input_tokens": 128000, "max_output_tokens": 16384, "input_usd_per_million_tokens": 0.15, "output_usd_per_million_tokens": 0.6}
    assert limits_of(chat)["max_tokens"] == Limit(1, 16384, int)  # the model's own limit narrows the standard one
    assert limits_of(chat)["temperature"] == STANDARD[LLM_CHAT]["temperature"]


def test_other_modes_keep_their_name() -> None:
    assert capability_of(ModelEntry("dall-e", "image_generation")).name == "llm.image_generation"


# -- registration -----------------------------------------------------------------------


def test_the_plugin_registers_both_kinds_with_their_identity() -> None:
    backends = get_plugin_manager().backends
    litellm, openai = backends["litellm"], backends["openai"]
    assert (litellm.default_ports, litellm.health_interval, litellm.default_url) == ((4000, 8000), 60.0, "http://127.0.0.1:4000")
    assert "litellm --config config.yaml --host 127.0.0.1 --port 4000" in litellm.start_hint
    assert openai.default_url == "" and openai.probe_priority < 0 < litellm.probe_priority
