"""The MCP-over-HTTP client against canned answers (`responses`).

The real FastMCP server is exercised in tests/integration/test_wan2gp_mcp.py; here are the
answers it cannot be made to give on demand: stateful sessions, SSE bodies, JSON-RPC
errors, retries and broken bodies.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from movie_director.configdata import ServiceConfig
from movie_director.errors import (
    AuthenticationFailed,
    ConnectionRefused,
    MalformedResponse,
    RequestRejected,
    ServiceError,
    UnsupportedVersion,
    WrongService,
)
from movie_director.http import probe_session
from movie_director_plugins.wan2gp.mcp_client import SESSION_HEADER, MCPClient, endpoint_of, tool_value

BASE = "http://127.0.0.1:8765"
ENDPOINT = BASE + "/mcp/"


def rpc_result(result: Any, request_id: int | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def answer(result: Any) -> Any:
    """A `responses` callback echoing the request's id in a JSON-RPC result."""

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        return 200, {"Content-Type": "application/json"}, json.dumps(rpc_result(result, body.get("id")))

    return callback


def sent(index: int) -> dict[str, Any]:
    return json.loads(responses.calls[index].request.body)


def client(retries: int = 0) -> MCPClient:
    service = ServiceConfig(name="wan2gp", kind="wan2gp", url=BASE + "/mcp", retries=retries, backoff=0.0)
    return MCPClient.for_service(service, ENDPOINT, "Wan2GP", start_hint="Start Wan2GP headless.")


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://127.0.0.1:8765", ENDPOINT),
        ("http://127.0.0.1:8765/", ENDPOINT),
        ("http://127.0.0.1:8765/mcp", ENDPOINT),
        ("http://127.0.0.1:8765/mcp/", ENDPOINT),
        ("https://gpu.example/wan/mcp?x=1", "https://gpu.example/wan/mcp/"),
    ],
)
def test_endpoint_of_accepts_the_server_url_or_the_mcp_path(url: str, endpoint: str) -> None:
    assert endpoint_of(url) == endpoint


@responses.activate
def test_a_stateless_server_is_called_without_initialize() -> None:
    responses.add_callback(responses.POST, ENDPOINT, callback=answer({"tools": [{"name": "wangp_get_job"}, {"bad": 1}]}))
    with client() as mcp:
        tools = mcp.list_tools()
    assert [tool["name"] for tool in tools] == ["wangp_get_job"]
    assert len(responses.calls) == 1
    request = responses.calls[0].request
    assert sent(0)["method"] == "tools/list" and sent(0)["jsonrpc"] == "2.0"
    assert "application/json" in request.headers["Accept"] and "text/event-stream" in request.headers["Accept"]
    assert request.headers["Content-Type"] == "application/json"
    assert SESSION_HEADER not in request.headers


@responses.activate
def test_tools_list_follows_next_cursor_pages() -> None:
    pages = iter([{"tools": [{"name": "a"}], "nextCursor": "p2"}, {"tools": [{"name": "b"}]}])
    responses.add_callback(responses.POST, ENDPOINT, callback=lambda r: (200, {}, json.dumps(rpc_result(next(pages), json.loads(r.body)["id"]))))
    with client() as mcp:
        assert [tool["name"] for tool in mcp.list_tools()] == ["a", "b"]
    assert sent(1)["params"] == {"cursor": "p2"}


@responses.activate
def test_a_stateful_server_gets_initialize_then_the_refused_call_again_with_its_session() -> None:
    def server(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        if body["method"] == "initialize":
            result = {"protocolVersion": "2025-03-26", "serverInfo": {"name": "WanGP", "version": "1.10.1"}, "capabilities": {}}
            return 200, {"Content-Type": "application/json", SESSION_HEADER: "s-1"}, json.dumps(rpc_result(result, body["id"]))
        if request.headers.get(SESSION_HEADER) != "s-1":
            error = {"jsonrpc": "2.0", "id": "server-error", "error": {"code": -32600, "message": "Bad Request: Missing session ID"}}
            return 400, {"Content-Type": "application/json"}, json.dumps(error)
        if "id" not in body:
            return 202, {}, ""
        return 200, {"Content-Type": "application/json"}, json.dumps(rpc_result({"tools": [{"name": "wangp_generate"}]}, body["id"]))

    responses.add_callback(responses.POST, ENDPOINT, callback=server)
    with client() as mcp:
        assert [tool["name"] for tool in mcp.list_tools()] == ["wangp_generate"]
        assert mcp.server_info["name"] == "WanGP"
    methods = [sent(i).get("method") for i in range(len(responses.calls))]
    assert methods == ["tools/list", "initialize", "notifications/initialized", "tools/list"]
    assert sent(1)["params"]["protocolVersion"] == "2025-03-26"
    assert responses.calls[3].request.headers["MCP-Protocol-Version"] == "2025-03-26"


@responses.activate
def test_an_expired_session_is_opened_again() -> None:
    sessions = iter(["s-1", "s-2"])
    live: set[str] = set()

    def server(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        if body["method"] == "initialize":
            session = next(sessions)
            live.clear()
            live.add(session)
            return 200, {SESSION_HEADER: session}, json.dumps(rpc_result({"protocolVersion": "2025-03-26"}, body["id"]))
        if "id" not in body:
            return 202, {}, ""
        if request.headers.get(SESSION_HEADER) not in live:
            return 404, {"Content-Type": "application/json"}, json.dumps({"jsonrpc": "2.0", "id": "server-error", "error": {"code": -32600, "message": "Session not found"}})
        return 200, {}, json.dumps(rpc_result({}, body["id"]))

    responses.add_callback(responses.POST, ENDPOINT, callback=server)
    with client() as mcp:
        mcp.initialize()
        live.clear()  # the server restarted and forgot s-1
        mcp.ping()
    assert responses.calls[-1].request.headers[SESSION_HEADER] == "s-2"


@responses.activate
def test_an_sse_answer_is_read_past_notifications() -> None:
    def server(request: Any) -> tuple[int, dict[str, str], str]:
        request_id = json.loads(request.body)["id"]
        stream = (
            "event: message\ndata: " + json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "hi"}}) + "\n\n"
            "event: message\ndata: not json\n\n"
            "event: message\ndata: " + json.dumps(rpc_result({"tools": []}, request_id)) + "\n\n"
        )
        return 200, {"Content-Type": "text/event-stream"}, stream

    responses.add_callback(responses.POST, ENDPOINT, callback=server)
    with client() as mcp:
        assert mcp.list_tools() == []


@responses.activate
def test_an_sse_answer_with_line_separators_inside_its_json_is_read_whole() -> None:
    """U+2028/U+2029 may stand unescaped in JSON strings; only CR/LF end an SSE line."""
    prompt = "a cat\u2028on a mat\u2029at dawn"

    def server(request: Any) -> tuple[int, dict[str, str], bytes]:
        answer = rpc_result({"tools": [{"name": "wangp_generate", "description": prompt}]}, json.loads(request.body)["id"])
        return 200, {"Content-Type": "text/event-stream"}, ("event: message\ndata: " + json.dumps(answer, ensure_ascii=False) + "\n\n").encode()

    responses.add_callback(responses.POST, ENDPOINT, callback=server)
    with client() as mcp:
        assert mcp.list_tools() == [{"name": "wangp_generate", "description": prompt}]


@responses.activate
def test_an_sse_stream_that_ends_without_the_answer_is_malformed() -> None:
    responses.add(responses.POST, ENDPOINT, body="event: ping\n\n", content_type="text/event-stream")
    with client() as mcp, pytest.raises(MalformedResponse, match="without answering"):
        mcp.ping()


@pytest.mark.parametrize(
    ("code", "error_type", "fragment"),
    [
        (-32601, UnsupportedVersion, "does not support the MCP method tools/call"),
        (-32602, RequestRejected, "rejected the tools/call request: Invalid request parameters"),
        (-32603, ServiceError, "failed while handling tools/call"),
    ],
)
@responses.activate
def test_jsonrpc_errors_become_typed_errors_with_the_server_message(code: int, error_type: type, fragment: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "Invalid request parameters", "data": ""}}
    responses.add(responses.POST, ENDPOINT, json=body)
    with client() as mcp, pytest.raises(error_type) as caught:
        mcp.call_tool("wangp_get_job", {"job_id": "x"})
    assert type(caught.value) is error_type
    assert fragment in caught.value.message
    assert caught.value.details["jsonrpc_code"] == code


@responses.activate
def test_a_tool_error_carries_the_tool_message_without_fastmcp_prefix() -> None:
    text = "Error executing tool wangp_get_default_settings: Unknown model_type: no_such_model"
    responses.add_callback(responses.POST, ENDPOINT, callback=answer({"content": [{"type": "text", "text": text}], "isError": True}))
    with client() as mcp, pytest.raises(RequestRejected) as caught:
        mcp.call_tool("wangp_get_default_settings", {"model_type": "no_such_model"})
    assert caught.value.message == "Wan2GP refused wangp_get_default_settings: Unknown model_type: no_such_model"
    assert caught.value.details == {"tool": "wangp_get_default_settings", "server_message": "Unknown model_type: no_such_model"}


@responses.activate
def test_an_unknown_tool_means_an_older_server() -> None:
    responses.add_callback(responses.POST, ENDPOINT, callback=answer({"content": [{"type": "text", "text": "Unknown tool: wangp_x"}], "isError": True}))
    with client() as mcp, pytest.raises(UnsupportedVersion, match="has no tool named wangp_x"):
        mcp.call_tool("wangp_x")


@pytest.mark.parametrize(
    ("result", "value"),
    [
        ({"content": [{"type": "text", "text": "{}"}], "structuredContent": {"job_id": "j", "done": False}}, {"job_id": "j", "done": False}),
        ({"content": [], "structuredContent": {"result": None}}, None),
        ({"content": [{"type": "text", "text": "{\"a\": 1}"}], "structuredContent": {"result": [{"a": 1}]}}, [{"a": 1}]),
        ({"content": [{"type": "text", "text": "{\n  \"job_id\": \"j\"\n}"}]}, {"job_id": "j"}),
        ({"content": [{"type": "text", "text": "{\"a\": 1}"}, {"type": "text", "text": "{\"a\": 2}"}]}, [{"a": 1}, {"a": 2}]),
        ({"content": [{"type": "text", "text": "plain words"}, {"type": "image", "data": "…"}]}, "plain words"),
        ({"content": []}, None),
    ],
)
def test_tool_value_reads_structured_content_or_the_text_items(result: dict[str, Any], value: Any) -> None:
    assert tool_value(result, "wangp_x", "Wan2GP") == value


def test_tool_value_refuses_a_result_that_is_not_an_object() -> None:
    with pytest.raises(MalformedResponse):
        tool_value(["not", "a", "result"], "wangp_x", "Wan2GP")


@responses.activate
def test_no_mcp_endpoint_is_the_wrong_service() -> None:
    responses.add(responses.POST, ENDPOINT, status=404, body="Not Found", content_type="text/plain")
    with client() as mcp, pytest.raises(WrongService) as caught:
        mcp.list_tools()
    assert "There is no MCP server at http://127.0.0.1:8765/mcp/" in caught.value.message
    assert caught.value.hints[0] == "Start Wan2GP headless."


@responses.activate
def test_an_auth_refusal_keeps_its_type() -> None:
    body = {"detail": {"error": "authentication_required", "message": "Authenticate with the gateway to use the MCP endpoint."}}
    responses.add(responses.POST, ENDPOINT, status=401, json=body)
    with client() as mcp, pytest.raises(AuthenticationFailed, match="HTTP 401"):
        mcp.list_tools()


@pytest.mark.parametrize("body", ["<!doctype html><html><title>Router</title></html>", json.dumps({"hello": "world"})])
@responses.activate
def test_an_answer_that_is_not_jsonrpc_is_malformed(body: str) -> None:
    responses.add(responses.POST, ENDPOINT, body=body, content_type="text/html")
    with client() as mcp, pytest.raises(MalformedResponse):
        mcp.ping()


@responses.activate
def test_repeatable_calls_are_retried_on_503_and_generate_never() -> None:
    responses.add(responses.POST, ENDPOINT, status=503, body="busy")
    responses.add_callback(responses.POST, ENDPOINT, callback=answer({"content": [], "structuredContent": {"done": True}}))
    with client(retries=2) as mcp:
        assert mcp.call_tool("wangp_get_job", {"job_id": "j"}) == {"done": True}
        assert len(responses.calls) == 2
        responses.calls.reset()
        responses.replace(responses.POST, ENDPOINT, status=503, body="busy")
        with pytest.raises(ServiceError, match="HTTP 503"):
            mcp.call_tool("wangp_generate", {"source": {}}, repeatable=False)
    assert len(responses.calls) == 1


def test_connection_refused_is_typed_with_the_start_hint() -> None:
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, ENDPOINT, body=ConnectionRefusedError(111, "Connection refused"))
        with client() as mcp, pytest.raises(ConnectionRefused) as caught:
            mcp.ping()
    assert caught.value.hints[0] == "Start Wan2GP headless."


def test_transfer_urls_stay_on_the_configured_server() -> None:
    with client() as mcp:
        assert mcp.url_for("/wangp_api/gallery/download/t0k") == BASE + "/wangp_api/gallery/download/t0k"
        assert mcp.url_for(BASE + "/wangp_api/x") == BASE + "/wangp_api/x"
        with pytest.raises(MalformedResponse, match="another server"):
            mcp.url_for("http://evil.example/steal")
        assert mcp.transfer_session is not None
        assert "MCPClient" in repr(mcp)


@responses.activate
def test_a_probe_session_serves_both_kinds_of_call() -> None:
    responses.add_callback(responses.POST, ENDPOINT, callback=answer({}))
    mcp = MCPClient(ENDPOINT, probe_session(ENDPOINT, 1.0), service="Wan2GP")
    mcp.ping(timeout=0.5)
    mcp.call_tool("wangp_generate", repeatable=False)
    mcp.close()
    assert len(responses.calls) == 2
