"""The real LiteLLM proxy started by our launcher: offline, mock models, master key auth."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from movie_director_testing.litellm_proxy import DEFAULT_MASTER_KEY, EMBEDDING, STORY, launch_litellm_proxy
from movie_director_testing.processes import ServerProcess

TIMEOUT = 10.0
AUTH = {"Authorization": f"Bearer {DEFAULT_MASTER_KEY}"}
HELLO = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def proxy() -> Iterator[ServerProcess]:
    with launch_litellm_proxy() as process:
        yield process


def test_starts_offline_and_is_ready(proxy: ServerProcess) -> None:
    ready = requests.get(proxy.url + "/health/readiness", timeout=TIMEOUT)
    assert ready.status_code == 200
    assert ready.json()["status"] == "healthy" and ready.json()["db"] == "Not connected"
    assert requests.get(proxy.url + "/health/liveliness", timeout=TIMEOUT).json() == "I'm alive!"
    # A failed or skipped fetch is logged as a WARNING; the only expected one is about the admin UI.
    warnings = [line for line in proxy.log_tail(400).splitlines() if "WARNING" in line]
    assert [line for line in warnings if "login_throttle.py" not in line] == []


def test_models_need_the_master_key(proxy: ServerProcess) -> None:
    listed = requests.get(proxy.url + "/v1/models", headers=AUTH, timeout=TIMEOUT)
    assert listed.status_code == 200
    models = {model["id"]: model for model in listed.json()["data"]}
    assert set(models) == {"mock-gpt", "mock-story", "mock-ratelimit", "mock-embed"}
    assert models["mock-embed"]["mode"] == "embedding" and models["mock-gpt"]["mode"] == "chat"
    assert requests.get(proxy.url + "/v1/models", headers={"x-api-key": DEFAULT_MASTER_KEY}, timeout=TIMEOUT).ok

    anonymous = requests.get(proxy.url + "/v1/models", timeout=TIMEOUT)
    assert anonymous.status_code == 401  # a 500 here means prisma is missing from the env
    assert anonymous.json() == {"error": {"message": "Authentication Error, No api key passed in.",
                                          "type": "auth_error", "param": "None", "code": "401"}}
    wrong = requests.get(proxy.url + "/v1/models", headers={"Authorization": "Bearer sk-wrong"}, timeout=TIMEOUT)
    assert (wrong.status_code, wrong.json()["error"]["type"]) == (400, "no_db_connection")


def test_chat_completion(proxy: ServerProcess) -> None:
    response = requests.post(proxy.url + "/v1/chat/completions", headers=AUTH, json={"model": "mock-gpt", **HELLO},
                             timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["x-litellm-model-group"] == "mock-gpt"
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"content": "hello", "role": "assistant"}


def test_stream_splits_a_long_reply_and_ends_with_done(proxy: ServerProcess) -> None:
    with requests.post(proxy.url + "/v1/chat/completions", headers=AUTH, stream=True, timeout=TIMEOUT,
                       json={"model": "mock-story", "stream": True, **HELLO}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == b"data: [DONE]"
    chunks = [json.loads(line.removeprefix(b"data: ")) for line in lines[:-1]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0]["role"] == "assistant" and len(deltas) > 10
    assert "".join(delta.get("content", "") for delta in deltas) == STORY
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_mock_embeddings(proxy: ServerProcess) -> None:
    response = requests.post(proxy.url + "/v1/embeddings", headers=AUTH, timeout=TIMEOUT,
                             json={"model": "mock-embed", "input": ["a shot", "a scene"]})
    assert response.status_code == 200
    assert [item["embedding"] for item in response.json()["data"]] == [EMBEDDING]  # one vector, whatever the input


def test_mock_ratelimit_is_a_429_after_the_proxy_retries(proxy: ServerProcess) -> None:
    response = requests.post(proxy.url + "/v1/chat/completions", headers=AUTH, json={"model": "mock-ratelimit", **HELLO},
                             timeout=30)
    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("throttling_error", "429")
    assert error["message"].startswith("litellm.RateLimitError: this is a mock rate limit error")


def test_the_documented_example_key_is_refused() -> None:
    # The proxy exits (code 3) after ~5-10 s; ServerProcess notices only at start_timeout.
    with pytest.raises(RuntimeError, match="did not start") as refused:
        launch_litellm_proxy(master_key="sk-1234", start_timeout=30)
    assert "the master key is a publicly known default" in str(refused.value)
