"""Operations as data: the executor registry and the generic ``http.request`` executor."""

from __future__ import annotations

import pytest
import responses

from movie_director.backend import Backend
from movie_director.configdata import ServiceConfig
from movie_director.errors import InvalidConfigError, MalformedResponse, RequestRejected
from movie_director.http import build_session
from movie_director.operations import (
    HTTP_REQUEST,
    Operation,
    OperationContext,
    OpState,
    executor_for,
    http_request,
    register_operation,
    registered_operations,
    unregister_operation,
)

URL = "http://127.0.0.1:8188"
SERVICE = ServiceConfig(name="comfyui", kind="comfyui", url=URL, retries=0)


class Comfy(Backend):
    kind = "comfyui"
    display_name = "ComfyUI"
    start_hint = "Start ComfyUI."


def context(payload: dict, attempts: int = 1, connection: object | None = None) -> OperationContext:
    operation = Operation(1, "comfyui", HTTP_REQUEST, payload, "key-1", 0.0, None, OpState.RUNNING, attempts)
    return OperationContext(SERVICE, Comfy(), connection if connection is not None else build_session(SERVICE), operation)


PROMPT = {
    "method": "POST",
    "path": "/prompt",
    "json": {"prompt": {}, "prompt_id": "key-1"},
    "dedupe": [{"path": "/history/{key}"}, {"path": "/queue", "contains_key": True}],
}


def test_the_registry_refuses_a_second_executor_for_one_type():
    def first(ctx: OperationContext) -> None: ...

    def second(ctx: OperationContext) -> None: ...

    register_operation("test.one", first)
    try:
        register_operation("test.one", first)  # the same one again is fine
        with pytest.raises(ValueError, match="already registered"):
            register_operation("test.one", second)
        register_operation("test.one", second, replace=True)
        assert executor_for("test.one") is second
        assert "test.one" in registered_operations() and HTTP_REQUEST in registered_operations()
    finally:
        unregister_operation("test.one")
    with pytest.raises(InvalidConfigError, match="test.one"):
        executor_for("test.one")


def test_final_states():
    assert [state.value for state in OpState if state.final] == ["done", "failed", "cancelled", "expired"]


@responses.activate
def test_a_first_attempt_is_sent_without_looking_for_an_earlier_one():
    responses.post(URL + "/prompt", json={"prompt_id": "key-1", "number": 0, "node_errors": {}})
    result = http_request(context(PROMPT))
    assert result == {"status": 200, "body": {"prompt_id": "key-1", "number": 0, "node_errors": {}}}
    assert [call.request.method for call in responses.calls] == ["POST"]


@responses.activate
def test_a_replay_found_in_the_history_is_not_sent_again():
    responses.get(URL + "/history/key-1", json={"key-1": {"prompt": [0, "key-1"]}})
    result = http_request(context(PROMPT, attempts=2))
    assert result == {"status": None, "deduplicated": True, "evidence": "/history/key-1"}
    assert len(responses.calls) == 1


@responses.activate
def test_a_replay_still_queued_is_not_sent_again():
    responses.get(URL + "/history/key-1", json={})
    responses.get(URL + "/queue", json={"queue_running": [], "queue_pending": [[3, "key-1", {}, {}, []]]})
    assert http_request(context(PROMPT, attempts=2))["evidence"] == "/queue"


@responses.activate
def test_a_replay_the_server_never_saw_is_sent():
    responses.get(URL + "/history/key-1", json={})
    responses.get(URL + "/queue", json={"queue_running": [], "queue_pending": []})
    responses.post(URL + "/prompt", json={"prompt_id": "key-1", "number": 0, "node_errors": {}})
    assert http_request(context(PROMPT, attempts=2))["status"] == 200


@responses.activate
def test_errors_are_typed_and_a_non_json_answer_to_a_dedupe_check_is_malformed():
    responses.post(URL + "/prompt", status=400, json={"error": {"type": "no_prompt", "message": "No prompt provided"}})
    with pytest.raises(RequestRejected, match="No prompt provided"):
        http_request(context(PROMPT))
    responses.get(URL + "/history/key-1", body="<html>proxy login</html>", content_type="text/html")
    with pytest.raises(MalformedResponse):
        http_request(context(PROMPT, attempts=2))


@responses.activate
def test_a_connection_that_is_not_a_session_gets_a_session_of_its_own_and_text_bodies_are_kept():
    responses.get(URL + "/health", body="x" * 5000, content_type="text/plain")
    result = http_request(context({"path": "/health", "timeout": 3}, connection=object()))
    assert result["status"] == 200 and len(result["body"]) == 4000
