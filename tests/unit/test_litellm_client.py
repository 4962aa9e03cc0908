"""The LiteLLM client against canned HTTP answers (`responses`) and a loopback fake for stream cuts.

The real proxy is exercised in tests/integration/test_litellm_client.py; here are the
answers a real proxy cannot be made to give on demand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import responses
from urllib3 import HTTPResponse

from movie_director.configdata import AuthRef, ServiceConfig
from movie_director.errors import (
    AuthenticationFailed,
    ConnectionLost,
    ConnectionRefused,
    MalformedResponse,
    NotFound,
    RateLimited,
    RequestRejected,
    ServiceError,
    Timeout,
)
from movie_director_plugins.litellm.client import START_HINT, LiteLLMClient, ModelEntry, as_messages, default_key_env
from movie_director_plugins.litellm.usage import Usage, UsageMeter
from movie_director_testing.fake_openai import FakeOpenAI
from movie_director_testing.processes import free_port

URL = "http://127.0.0.1:4000"
CHAT = URL + "/v1/chat/completions"
MODELS = URL + "/v1/models"
KEY = "sk-unit-secret-0123456789"
MODEL_LIST = {"data": [{"id": "mock-embed", "mode": "embedding"}, {"id": "mock-gpt", "mode": "chat", "max_input_tokens": 128000}, {"id": "mock-story"}]}


def completion(text: str = "hello", model: str = "mock-gpt") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


def error_body(message: str, type_: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def sse(*events: Any) -> str:
    return "".join(f"data: {event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)}\n\n" for event in events)


def chunk(content: str | None = None, finish: str | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    payload: dict[str, Any] = {"object": "chat.completion.chunk", "model": "mock-story", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        payload["usage"] = usage
    return payload


def service(retries: int = 0, **changes: Any) -> ServiceConfig:
    return ServiceConfig(name="litellm", kind="litellm", url=URL, retries=retries, backoff=0.0, **changes)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MOVIE_DIRECTOR_LITELLM_API_KEY", KEY)
    return KEY


@pytest.fixture
def meter() -> UsageMeter:
    return UsageMeter()


@pytest.fixture
def client(meter: UsageMeter) -> Iterator[LiteLLMClient]:
    with LiteLLMClient(service(), meter=meter) as llm:
        yield llm


def body_of(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


# -- chat ------------------------------------------------------------------------------


@responses.activate
def test_chat_returns_text_model_usage_and_cost(client: LiteLLMClient, meter: UsageMeter) -> None:
    responses.post(CHAT, json=completion(), headers={"x-litellm-response-cost": "1.35e-05"})
    result = client.chat("hi", "mock-gpt", temperature=0.2)
    assert (result.text, result.model, result.response_model, result.finish_reason) == ("hello", "mock-gpt", "mock-gpt", "stop")
    assert result.usage == Usage(10, 20, 1.35e-05)
    assert result.failed == ()
    assert meter.snapshot().metrics()["tokens_total"] == 30.0 and meter.snapshot().cost_usd == 1.35e-05
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert body_of(responses.calls[0]) == {"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    assert result.to_dict()["usage"]["cost_usd"] == 1.35e-05


def test_messages_from_a_prompt_with_a_system_message() -> None:
    assert as_messages("hi", system="be brief") == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert as_messages(history) == history


@responses.activate
def test_default_model_is_the_servers_first_chat_model_and_is_remembered(client: LiteLLMClient) -> None:
    responses.get(MODELS, json=MODEL_LIST)
    responses.post(CHAT, json=completion())
    client.chat("hi")
    client.chat("hi again")
    assert [body_of(call)["model"] for call in responses.calls if call.request.method == "POST"] == ["mock-gpt", "mock-gpt"]
    assert len([call for call in responses.calls if call.request.method == "GET"]) == 1


@responses.activate
def test_no_chat_model_at_all_is_a_clear_error(client: LiteLLMClient) -> None:
    responses.get(MODELS, json={"data": [{"id": "mock-embed", "mode": "embedding"}]})
    with pytest.raises(NotFound, match="offers no chat model"):
        client.chat("hi")


@responses.activate
def test_a_malformed_answer_is_named() -> None:
    responses.post(CHAT, body="<html>proxy login</html>", content_type="text/html")
    responses.post(CHAT, json={"choices": []})
    with LiteLLMClient(service()) as llm:
        with pytest.raises(MalformedResponse, match="web page"):
            llm.chat("hi", "m")
        with pytest.raises(MalformedResponse, match="JSON of another shape"):
            llm.chat("hi", "m")


# -- errors, auth and secrets -----------------------------------------------------------


@responses.activate
def test_unknown_model_names_it_and_lists_the_available_ones(client: LiteLLMClient) -> None:
    message = "/chat/completions: Invalid model name passed in model=nope. Call `/v1/models` to view available models for your key."
    responses.post(CHAT, status=400, json=error_body(message, "invalid_request_error", "400"))
    responses.get(MODELS, json=MODEL_LIST)
    with pytest.raises(NotFound) as caught:
        client.chat("hi", "nope")
    assert caught.value.message == "LiteLLM has no model named 'nope'. Available: mock-embed, mock-gpt, mock-story."
    assert caught.value.details["available"] == ["mock-embed", "mock-gpt", "mock-story"]
    assert "llm models" in caught.value.hints[0]


@responses.activate
def test_openai_style_model_not_found_is_recognised_even_when_the_list_fails(client: LiteLLMClient) -> None:
    responses.post(CHAT, status=404, json={"error": {"message": "The model `x` does not exist", "code": "model_not_found"}})
    responses.get(MODELS, status=500)
    with pytest.raises(NotFound) as caught:
        client.chat("hi", "x")
    assert caught.value.message == "LiteLLM has no model named 'x'."


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_authentication_failed_with_hints(client: LiteLLMClient, status: int) -> None:
    responses.post(CHAT, status=status, json=error_body("Authentication Error, Invalid proxy server token passed.", "auth_error", str(status)))
    with pytest.raises(AuthenticationFailed) as caught:
        client.chat("hi", "mock-gpt")
    error = caught.value
    assert error.code == "authentication_failed"
    assert f"(HTTP {status}): Authentication Error" in error.message
    assert "MOVIE_DIRECTOR_LITELLM_API_KEY holds" in error.hints[0]
    assert error.details == {"status": status, "key_env": "MOVIE_DIRECTOR_LITELLM_API_KEY", "key_set": True}


@responses.activate
def test_wrong_key_without_a_db_is_authentication_failed_not_a_bad_request(client: LiteLLMClient) -> None:
    responses.post(CHAT, status=400, json=error_body("No connected db.", "no_db_connection", "400"))
    with pytest.raises(AuthenticationFailed) as caught:
        client.chat("hi", "mock-gpt", )
    assert "not the master key" in caught.value.message
    assert any("DATABASE_URL" in hint for hint in caught.value.hints)


@responses.activate
def test_missing_key_says_which_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOVIE_DIRECTOR_LITELLM_API_KEY")
    responses.post(CHAT, status=401, json=error_body("Authentication Error, No api key passed in.", "auth_error", "401"))
    with LiteLLMClient(service()) as llm, pytest.raises(AuthenticationFailed) as caught:
        llm.chat("hi", "mock-gpt")
    assert "Authorization" not in responses.calls[0].request.headers
    assert caught.value.hints[0].startswith("No key was sent: set the environment variable MOVIE_DIRECTOR_LITELLM_API_KEY")


@responses.activate
def test_a_named_variable_and_header_auth_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_LLM_KEY", "sk-studio-key-987654")
    responses.post(CHAT, json=completion())
    with LiteLLMClient(service(auth=AuthRef("STUDIO_LLM_KEY", "header", "x-api-key"))) as llm:
        llm.chat("hi", "mock-gpt")
    assert responses.calls[0].request.headers["x-api-key"] == "sk-studio-key-987654"


def test_a_service_without_auth_reads_its_own_variable_else_the_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    story = ServiceConfig("my-story", "litellm", URL)
    assert default_key_env(story) == "MOVIE_DIRECTOR_LITELLM_API_KEY"  # only the kind's is set
    monkeypatch.setenv("MOVIE_DIRECTOR_MY_STORY_API_KEY", "sk-story-key-5678")
    assert default_key_env(story) == "MOVIE_DIRECTOR_MY_STORY_API_KEY"
    monkeypatch.delenv("MOVIE_DIRECTOR_LITELLM_API_KEY")
    monkeypatch.delenv("MOVIE_DIRECTOR_MY_STORY_API_KEY")
    assert default_key_env(story) == "MOVIE_DIRECTOR_MY_STORY_API_KEY"  # named in the hint when neither is set


@responses.activate
def test_the_key_never_shows_in_errors_reprs_or_logs(client: LiteLLMClient, caplog: pytest.LogCaptureFixture) -> None:
    responses.post(CHAT, status=401, json=error_body(f"Invalid key {KEY} for Authorization: Bearer {KEY}", "auth_error", "401"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationFailed) as caught:
        client.chat("hi", "mock-gpt")
    visible = [str(caught.value), repr(caught.value), json.dumps(caught.value.to_dict()), repr(client), repr(client.session), caplog.text]
    assert not [text for text in visible if KEY in text]
    assert "***" in caught.value.message


@responses.activate
def test_other_client_errors_keep_the_servers_message(client: LiteLLMClient) -> None:
    responses.post(CHAT, status=400, json=error_body("Missing required parameter: 'messages'.", "invalid_request_error", "400"))
    with pytest.raises(RequestRejected, match="Missing required parameter"):
        client.chat([], "mock-gpt")


def test_nobody_listening_is_connection_refused_with_the_start_hint() -> None:
    with LiteLLMClient(ServiceConfig("litellm", "litellm", f"http://127.0.0.1:{free_port()}", retries=0)) as llm, pytest.raises(ConnectionRefused) as caught:
        llm.chat("hi", "mock-gpt")
    assert caught.value.hints[0] == START_HINT


# -- retries ----------------------------------------------------------------------------


@responses.activate
def test_429_and_502_are_retried_for_a_chat_post(meter: UsageMeter) -> None:
    responses.post(CHAT, status=429, json=error_body("slow down", "throttling_error", "429"), headers={"Retry-After": "0"})
    responses.post(CHAT, status=502, body="bad gateway")
    responses.post(CHAT, json=completion())
    with LiteLLMClient(service(retries=2), meter=meter) as llm:
        assert llm.chat("hi", "mock-gpt").text == "hello"
    assert len(responses.calls) == 3


@responses.activate
def test_retries_are_bounded_then_rate_limited_names_retry_after(client: LiteLLMClient) -> None:
    responses.post(CHAT, status=429, json=error_body("slow down", "throttling_error", "429"), headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as caught:
        client.chat("hi", "mock-gpt")
    assert len(responses.calls) == 1  # retries=0 in this service
    assert caught.value.details["retry_after"] == "7"


def test_retry_policy_waits_as_long_as_retry_after_says_for_post() -> None:
    with LiteLLMClient(service(retries=3)) as llm:
        policy = llm.session.get_adapter(CHAT).max_retries
    answer = HTTPResponse(status=429, headers={"Retry-After": "2"})
    assert policy.is_retry("POST", 429, has_retry_after=True)
    assert policy.is_retry("POST", 503)
    assert not policy.is_retry("POST", 500)
    with mock.patch("urllib3.util.retry.time.sleep") as sleep:
        policy.sleep(answer)
    sleep.assert_called_once_with(2.0)
    assert policy.read == 0  # an answer that has started is never asked for again


@responses.activate
def test_health_routes_are_never_retried() -> None:
    responses.get(URL + "/health/readiness/details", status=503, json={"status": "unhealthy", "db": "disconnected"})
    with LiteLLMClient(service(retries=3)) as llm:
        readiness = llm.readiness()
    assert not readiness.ok and readiness.db_connected is False
    assert len(responses.calls) == 1


# -- fallback ---------------------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, error_body("Invalid model name passed in model=first", "invalid_request_error", "400")),
        (429, error_body("litellm.RateLimitError", "throttling_error", "429")),
        (500, error_body("litellm.APIError", "None", "500")),
    ],
)
def test_model_failures_fall_back_to_the_next_model(status: int, body: dict[str, Any], meter: UsageMeter) -> None:
    responses.post(CHAT, status=status, json=body)
    responses.post(CHAT, json=completion(model="second"))
    responses.get(MODELS, json={"data": [{"id": "second"}]})
    with LiteLLMClient(service(models=("first", "second")), meter=meter) as llm:
        result = llm.chat("hi")
    assert result.model == "second"
    assert [attempt.model for attempt in result.failed] == ["first"]
    assert result.to_dict()["failed"][0]["model"] == "first"
    assert [body_of(call)["model"] for call in responses.calls if call.request.method == "POST"] == ["first", "second"]


@responses.activate
def test_a_fallback_list_given_per_call_wins_over_the_service_list() -> None:
    responses.post(CHAT, json=completion(model="b"))
    with LiteLLMClient(service(models=("a",))) as llm:
        assert llm.chat("hi", ["b", "a"]).model == "b"


@responses.activate
def test_a_bad_request_does_not_fall_back() -> None:
    responses.post(CHAT, status=400, json=error_body("temperature must be at most 2", "invalid_request_error", "400"))
    with LiteLLMClient(service(models=("first", "second"))) as llm, pytest.raises(RequestRejected):
        llm.chat("hi", temperature=9)
    assert len(responses.calls) == 1


@responses.activate
def test_when_every_model_fails_the_error_names_each() -> None:
    responses.post(CHAT, status=429, json=error_body("busy", "throttling_error", "429"))
    responses.post(CHAT, status=503, json=error_body("down", "None", "503"))
    with LiteLLMClient(service(models=("a", "b"))) as llm, pytest.raises(ServiceError) as caught:
        llm.chat("hi")
    assert caught.value.message == "No model on LiteLLM could answer (a: too many requests; b: the service reported an error)."
    assert [attempt["model"] for attempt in caught.value.details["attempts"]] == ["a", "b"]


# -- streaming --------------------------------------------------------------------------


@responses.activate
def test_stream_yields_deltas_then_reports_usage_and_finish(client: LiteLLMClient, meter: UsageMeter) -> None:
    usage = {"prompt_tokens": 8, "completion_tokens": 3, "cost": 2.5e-06}
    body = ": ping\n\n" + sse(chunk("Ça "), chunk("tourne ✓"), chunk(finish="stop"), chunk(usage=usage), "[DONE]")
    responses.post(CHAT, body=body.encode(), content_type="text/event-stream; charset=utf-8")
    stream = client.stream_chat("hi", "mock-story")
    assert list(stream) == ["Ça ", "tourne ✓"]
    assert (stream.text, stream.finish_reason, stream.usage) == ("Ça tourne ✓", "stop", Usage(8, 3, 2.5e-06))
    assert body_of(responses.calls[0])["stream_options"] == {"include_usage": True}
    assert stream.result().to_dict()["text"] == "Ça tourne ✓"
    assert meter.snapshot().calls == 1 and meter.snapshot().cost_usd == 2.5e-06


@responses.activate
def test_openai_style_usage_chunk_with_empty_choices(client: LiteLLMClient) -> None:
    usage_chunk = {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    responses.post(CHAT, body=sse(chunk("a", finish="stop"), usage_chunk, "[DONE]"))
    stream = client.stream_chat("hi", "m")
    assert list(stream) == ["a"] and stream.usage == Usage(1, 2, None)


@responses.activate
@pytest.mark.parametrize(("code", "error_class"), [("429", RateLimited), ("401", AuthenticationFailed), ("400", RequestRejected), ("500", ServiceError)])
def test_error_object_mid_stream_is_typed_and_keeps_the_partial_text(client: LiteLLMClient, code: str, error_class: type, meter: UsageMeter) -> None:
    error = {"error": {"message": "upstream fell over", "type": "None", "param": "None", "code": code}}
    responses.post(CHAT, body=sse(chunk("The "), chunk("director"), error))
    stream = client.stream_chat("hi", "mock-story")
    received = []
    with pytest.raises(error_class) as caught:
        received.extend(stream)
    assert type(caught.value) is error_class
    assert received == ["The ", "director"]
    assert caught.value.details["partial_text"] == "The director"
    assert caught.value.message == "LiteLLM stopped the answer from mock-story with an error: upstream fell over"
    assert meter.snapshot().calls == 0


@responses.activate
def test_stream_that_stops_without_done_or_finish_is_connection_lost(client: LiteLLMClient) -> None:
    responses.post(CHAT, body=sse(chunk("half an ")))
    with pytest.raises(ConnectionLost) as caught:
        list(client.stream_chat("hi", "mock-story"))
    assert caught.value.details["partial_text"] == "half an "
    assert "ended before it was complete" in caught.value.message


@responses.activate
def test_a_finished_stream_without_done_is_accepted(client: LiteLLMClient) -> None:
    responses.post(CHAT, body=sse(chunk("whole", finish="stop")))
    assert "".join(client.stream_chat("hi", "m")) == "whole"


@responses.activate
def test_garbage_in_the_stream_is_malformed_with_the_partial_text(client: LiteLLMClient) -> None:
    responses.post(CHAT, body=sse(chunk("ok "), "{not json"))
    with pytest.raises(MalformedResponse) as caught:
        list(client.stream_chat("hi", "m"))
    assert caught.value.details["partial_text"] == "ok "


@responses.activate
def test_stream_errors_before_the_first_byte_raise_at_the_call_and_fall_back() -> None:
    responses.post(CHAT, status=429, json=error_body("busy", "throttling_error", "429"))
    responses.post(CHAT, body=sse(chunk("from b", finish="stop"), "[DONE]"))
    responses.post(CHAT, status=429, json=error_body("busy", "throttling_error", "429"))
    with LiteLLMClient(service(models=("a", "b"))) as llm:
        stream = llm.stream_chat("hi")
        assert (stream.model, [attempt.model for attempt in stream.failed]) == ("b", ["a"])
        assert list(stream) == ["from b"]
        with pytest.raises(RateLimited):
            llm.stream_chat("hi", "a")


@responses.activate
def test_a_stream_closed_early_stops_and_has_no_result(client: LiteLLMClient) -> None:
    responses.post(CHAT, body=sse(chunk("one "), chunk("two", finish="stop"), "[DONE]"))
    with client.stream_chat("hi", "m") as stream:
        assert next(stream) == "one "
        with pytest.raises(RuntimeError, match="not been read"):
            stream.result()
    with pytest.raises(StopIteration):
        next(stream)


def test_bytes_split_anywhere_on_the_wire_give_the_same_text() -> None:
    events = sse(chunk("Fog 🌫 "), chunk("café ✓"), chunk(finish="stop"), "[DONE]").replace("\n", "\r\n").encode()
    cuts = [7, 40, events.index("🌫".encode()) + 2, events.index("é".encode()) + 1, events.index(b"\r\n\r\n") + 1]
    pieces = [events[start:end] for start, end in zip([0, *sorted(cuts)], [*sorted(cuts), len(events)])]
    with FakeOpenAI(stream_bytes=pieces) as fake, LiteLLMClient(ServiceConfig("t", "openai", fake.url, retries=0)) as llm:
        stream = llm.stream_chat("hi", "up-model")
        assert "".join(stream) == "Fog 🌫 café ✓"
        assert stream.finish_reason == "stop"


def test_a_finished_stream_gives_its_connection_back_to_the_pool() -> None:
    with FakeOpenAI(chunk_delay=0.0, reply="one two") as fake, LiteLLMClient(ServiceConfig("t", "openai", fake.url, retries=0)) as llm:
        assert "".join(llm.stream_chat("hi", "up-model")) == "one two"
        assert "".join(llm.stream_chat("hi", "up-model")) == "one two"
        assert llm.chat("hi", "up-model").text == "one two"
    assert len({request["peer"] for request in fake.requests}) == 1


def test_a_connection_cut_mid_stream_is_connection_lost_with_the_partial_text() -> None:
    with FakeOpenAI(chunk_delay=0.0, cut_after=3) as fake, LiteLLMClient(ServiceConfig("t", "openai", fake.url, retries=0)) as llm:
        received = []
        with pytest.raises(ConnectionLost) as caught:
            received.extend(llm.stream_chat("hi", "up-model"))
    assert "".join(received) == "Take 1: the "
    assert caught.value.details == {"model": "up-model", "partial_text": "Take 1: the "}
    assert caught.value.hints[-1] == "The text received so far is kept."


def test_a_stalled_stream_times_out_with_the_partial_text() -> None:
    with FakeOpenAI(chunk_delay=5.0) as fake, LiteLLMClient(ServiceConfig("t", "openai", fake.url, timeout=0.3, retries=0)) as llm, pytest.raises(Timeout) as caught:
        list(llm.stream_chat("hi", "up-model"))
    assert caught.value.details["partial_text"] == "Take "


# -- other routes -----------------------------------------------------------------------


@responses.activate
def test_legacy_completions(client: LiteLLMClient) -> None:
    responses.post(URL + "/v1/completions", json={"model": "mock-gpt", "choices": [{"text": "hello", "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    result = client.completions("say hi", "mock-gpt", max_tokens=5)
    assert (result.text, result.usage.total_tokens) == ("hello", 2)
    assert body_of(responses.calls[0]) == {"model": "mock-gpt", "prompt": "say hi", "max_tokens": 5}


@responses.activate
def test_a_server_without_legacy_completions_says_so_without_falling_back() -> None:
    responses.post(URL + "/v1/completions", status=404, json={"detail": "Not Found"})
    with LiteLLMClient(service(models=("a", "b"))) as llm, pytest.raises(NotFound, match="/v1/completions"):
        llm.completions("x")
    assert len(responses.calls) == 1


@responses.activate
def test_models_and_model_info(client: LiteLLMClient) -> None:
    responses.get(MODELS, json=MODEL_LIST)
    info = {"model_name": "mock-gpt", "model_info": {"mode": "chat", "max_tokens": 16384, "max_input_tokens": 128000, "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07}}
    responses.get(URL + "/v1/model/info", json={"data": [info, {**info, "model_info": {"mode": "chat"}}, {"model_name": "mock-embed", "model_info": {"mode": "embedding"}}, "junk"]})
    assert client.models()[1] == ModelEntry("mock-gpt", "chat", 128000, None)
    assert client.model_ids() == ["mock-embed", "mock-gpt", "mock-story"]
    assert client.model_info() == [ModelEntry("mock-gpt", "chat", 128000, 16384, 0.15, 0.6), ModelEntry("mock-embed", "embedding")]


@responses.activate
def test_a_foreign_model_list_is_malformed(client: LiteLLMClient) -> None:
    responses.get(MODELS, json={"models": ["a"]})
    responses.get(URL + "/v1/model/info", json=[1, 2])
    with pytest.raises(MalformedResponse):
        client.models()
    with pytest.raises(MalformedResponse):
        client.model_info()


@responses.activate
def test_readiness_reads_details_with_a_key_and_the_public_form_without(monkeypatch: pytest.MonkeyPatch) -> None:
    details = {"status": "healthy", "db": "connected", "cache": {"type": "redis"}, "litellm_version": "1.108.7"}
    responses.get(URL + "/health/readiness/details", json=details)
    responses.get(URL + "/health/readiness", json={"status": "healthy", "db": "Not connected"})
    with LiteLLMClient(service()) as llm:
        ready = llm.readiness()
    assert (ready.ok, ready.db_connected, ready.cache, ready.version) == (True, True, "redis", "1.108.7")
    monkeypatch.delenv("MOVIE_DIRECTOR_LITELLM_API_KEY")
    with LiteLLMClient(service()) as llm:
        ready = llm.readiness()
    assert (ready.ok, ready.db_connected, ready.version) == (True, None, "")
    assert responses.calls[-1].request.url == URL + "/health/readiness"


@responses.activate
def test_readiness_falls_back_to_the_public_route_when_details_are_refused() -> None:
    responses.get(URL + "/health/readiness/details", status=401, json=error_body("no", "auth_error", "401"))
    responses.get(URL + "/health/readiness", json={"status": "healthy", "db": "Not connected"})
    responses.get(URL + "/health/readiness", json={"detail": "??"})
    with LiteLLMClient(service()) as llm:
        assert llm.readiness().ok
        with pytest.raises(MalformedResponse):
            llm.readiness()


def test_a_v1_url_is_accepted_as_the_base() -> None:
    with LiteLLMClient(ServiceConfig("litellm", "litellm", URL + "/v1/")) as llm:
        assert (llm.base_url, llm.api_url) == (URL, URL + "/v1")
        assert not llm.closed
    assert llm.closed
