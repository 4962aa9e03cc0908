"""The ``llm.chat`` operation the core's queue runs."""

from __future__ import annotations

import json

import pytest
import responses

from movie_director.configdata import ServiceConfig
from movie_director.errors import AuthenticationFailed
from movie_director.operations import Operation, OperationContext, OpState, executor_for
from movie_director.plugins import get_plugin_manager
from movie_director_plugins.litellm.backend import LiteLLMBackend
from movie_director_plugins.litellm.client import LiteLLMClient
from movie_director_plugins.litellm.operations import CHAT, chat_operation

URL = "http://127.0.0.1:4000"
SERVICE = ServiceConfig("litellm", "litellm", URL, retries=0, models=("mock-gpt",))
ANSWER = {"model": "mock-gpt", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hello"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def context(client: LiteLLMClient, payload: dict[str, object]) -> OperationContext:
    operation = Operation(1, "litellm", CHAT, payload, "key-1", 0.0, None, OpState.RUNNING, attempts=1)
    return OperationContext(SERVICE, LiteLLMBackend(), client, operation)


def test_the_plugin_registers_the_operation() -> None:
    assert get_plugin_manager().operations[CHAT] is chat_operation  # registers on first use
    assert executor_for(CHAT) is chat_operation


@responses.activate
def test_a_prompt_with_system_and_params_gives_the_result_as_data() -> None:
    responses.post(URL + "/v1/chat/completions", json=ANSWER)
    with LiteLLMClient(SERVICE) as client:
        result = chat_operation(context(client, {"prompt": "hi", "system": "be brief", "params": {"max_tokens": 5}}))
    assert json.loads(json.dumps(result)) == result  # stored as JSON in the queue
    assert (result["text"], result["model"], result["usage"]["total_tokens"]) == ("hello", "mock-gpt", 4)
    assert json.loads(responses.calls[0].request.body) == {
        "model": "mock-gpt",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_tokens": 5,
    }


@responses.activate
def test_messages_and_a_model_list_are_passed_and_errors_raise_typed() -> None:
    responses.post(URL + "/v1/chat/completions", status=401, json={"error": {"message": "bad key", "type": "auth_error", "code": "401"}})
    with LiteLLMClient(SERVICE) as client, pytest.raises(AuthenticationFailed):
        chat_operation(context(client, {"messages": [{"role": "user", "content": "hi"}], "model": ["a", "b"]}))
    assert json.loads(responses.calls[0].request.body)["model"] == "a"
