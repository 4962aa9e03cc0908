"""``movie-director llm chat|models`` against canned proxy answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from movie_director.cli import main

URL = "http://127.0.0.1:4000"
CHAT = URL + "/v1/chat/completions"
ANSWER = {
    "model": "mock-gpt",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hello"}}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 20},
}
STREAM = (
    'data: {"model":"mock-story","choices":[{"index":0,"delta":{"content":"The "}}]}\n\n'
    'data: {"model":"mock-story","choices":[{"index":0,"delta":{"content":"end"},"finish_reason":"stop"}]}\n\n'
    'data: {"model":"mock-story","choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"cost":1e-06}}\n\n'
    "data: [DONE]\n\n"
)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("MOVIE_DIRECTOR_LITELLM_API_KEY", "sk-cli-test-key-1234")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"services": {"story": {"kind": "litellm", "url": URL, "models": ["mock-gpt"], "retries": 0}, "paint": {"kind": "comfyui", "url": "http://127.0.0.1:8188"}}}),
        encoding="utf-8",
    )
    monkeypatch.setenv("MOVIE_DIRECTOR_CONFIG", str(config))
    return config


def sent(index: int = 0) -> dict[str, Any]:
    return json.loads(responses.calls[index].request.body)


@responses.activate
def test_chat_prints_the_answer_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    responses.post(CHAT, json=ANSWER, headers={"x-litellm-response-cost": "2.5e-05"})
    assert main(["llm", "chat", "hi", "--url", URL, "--model", "mock-gpt", "--system", "be brief"]) == 0
    out, err = capsys.readouterr()
    assert out == "hello\n"
    assert err == "— mock-gpt · 10 in / 20 out tokens · est. $0.000025\n"
    assert sent()["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


@responses.activate
def test_chat_json(capsys: pytest.CaptureFixture[str]) -> None:
    responses.post(CHAT, json=ANSWER)
    assert main(["llm", "chat", "hi", "--url", URL, "--model", "mock-gpt", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["text"], data["model"], data["usage"]["total_tokens"], data["failed"]) == ("hello", "mock-gpt", 30, [])


@responses.activate
def test_chat_stream_prints_as_it_arrives(capsys: pytest.CaptureFixture[str]) -> None:
    responses.post(CHAT, body=STREAM, content_type="text/event-stream")
    assert main(["llm", "chat", "hi", "--url", URL, "--model", "mock-story", "--stream"]) == 0
    out, err = capsys.readouterr()
    assert out == "The end\n"
    assert err.startswith("— mock-story · 3 in / 2 out tokens")


@responses.activate
def test_chat_stream_json_adds_time_to_first_token(capsys: pytest.CaptureFixture[str]) -> None:
    responses.post(CHAT, body=STREAM, content_type="text/event-stream")
    assert main(["llm", "chat", "hi", "--url", URL, "--model", "mock-story", "--stream", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["text"] == "The end" and data["time_to_first_token_ms"] >= 0


@responses.activate
def test_configured_service_models_are_the_fallback_order(capsys: pytest.CaptureFixture[str]) -> None:
    responses.post(CHAT, status=429, json={"error": {"message": "busy", "type": "throttling_error", "code": "429"}})
    responses.post(CHAT, json={**ANSWER, "model": "mock-story"})
    assert main(["llm", "chat", "hi", "--service", "story", "--model", "mock-ratelimit", "--model", "mock-story"]) == 0
    assert capsys.readouterr().err.endswith("(after mock-ratelimit failed)\n")
    responses.calls.reset()
    assert main(["llm", "chat", "hi", "--service", "story"]) == 0
    assert sent()["model"] == "mock-gpt"


@responses.activate
def test_errors_print_the_message_and_hints(capsys: pytest.CaptureFixture[str]) -> None:
    responses.post(CHAT, status=400, json={"error": {"message": "Invalid model name passed in model=nope", "type": "invalid_request_error", "code": "400"}})
    responses.get(URL + "/v1/models", json={"data": [{"id": "mock-gpt"}]})
    assert main(["llm", "chat", "hi", "--url", URL, "--model", "nope"]) == 1
    err = capsys.readouterr().err
    assert "✗ LiteLLM has no model named 'nope'. Available: mock-gpt.  [not_found]" in err
    assert "  1. Pick one of the available models" in err


def test_a_service_of_another_kind_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "models", "--service", "paint"]) == 2
    assert "'paint' is a comfyui service, not an LLM server" in capsys.readouterr().err


@responses.activate
def test_models_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(URL + "/v1/models", json={"data": [{"id": "mock-gpt", "mode": "chat", "max_input_tokens": 128000, "max_output_tokens": 16384}, {"id": "mock-embed", "mode": "embedding"}]})
    assert main(["llm", "models", "--url", URL]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MODEL", "MODE", "MAX", "IN", "MAX", "OUT"]
    assert lines[1].split() == ["mock-gpt", "chat", "128000", "16384"]
    assert main(["llm", "models", "--url", URL, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[1] == {"id": "mock-embed", "mode": "embedding"}


def test_llm_alone_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm"]) == 0
    assert "chat" in capsys.readouterr().out
