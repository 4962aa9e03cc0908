"""The one exception mapper: every failure becomes a typed error with a plain message and hints."""

from __future__ import annotations

import json
import pickle
import socket
import ssl
from http.client import RemoteDisconnected

import pytest
import requests
import responses
import websocket
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError, ReadTimeoutError

from movie_director import errors
from movie_director.check import adhoc_service
from movie_director.errors import ALL_ERRORS, map_exception, response_error
from movie_director.http import build_session, call, json_of
from movie_director.redact import register_secret

URL = "http://127.0.0.1:8188"


def session() -> requests.Session:
    return build_session(adhoc_service(URL, "comfyui", retries=0))


def test_every_error_class_has_a_unique_code_and_hints() -> None:
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(codes) == len(set(codes))
    for cls in ALL_ERRORS:
        error = cls(service="ComfyUI")
        assert error.message and error.message[0].isupper(), cls
        assert error.category in {"Connection", "Configuration", "Authentication", "Runtime", "Version"}


def test_refused_on_a_real_closed_port_has_start_hint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(errors.ConnectionRefused) as caught:
        call(session(), "GET", f"http://127.0.0.1:{port}/x", service="ComfyUI", start_hint="Start ComfyUI with `python main.py`.")
    assert caught.value.hints[0] == "Start ComfyUI with `python main.py`."
    assert caught.value.service == "ComfyUI"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (requests.ConnectTimeout("timed out"), errors.Timeout),
        (requests.ReadTimeout("read timed out"), errors.Timeout),
        (socket.timeout("timed out"), errors.Timeout),  # noqa: UP041 - an alias of TimeoutError, named as the socket module names it
        (requests.exceptions.SSLError(ssl.SSLError("WRONG_VERSION_NUMBER")), errors.TLSFailed),
        (requests.ConnectionError(socket.gaierror(-2, "Name or service not known")), errors.NameResolutionFailed),
        (requests.exceptions.ChunkedEncodingError("Connection broken"), errors.ConnectionLost),
        (ConnectionResetError(104, "reset"), errors.ConnectionLost),
        (requests.exceptions.ProxyError("proxy down"), errors.ProxyFailed),
        (websocket.WebSocketConnectionClosedException("Connection to remote host was lost."), errors.WebSocketClosed),
        (json.JSONDecodeError("Expecting value", "<html>", 0), errors.MalformedResponse),
        (RuntimeError("boom"), errors.ServiceError),
    ],
)
def test_map_exception(exc: BaseException, expected: type) -> None:
    mapped = map_exception(exc, service="ComfyUI")
    assert type(mapped) is expected
    assert mapped.cause is exc and mapped.hints


def _raised(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` as urllib3 raises it: ``raise outer from inner`` (its message says nothing of ``inner``)."""
    outer.__cause__ = inner
    return outer


def _through_requests(reason: BaseException) -> requests.ConnectionError:
    """What requests raises once urllib3 gave up: ``MaxRetryError`` with the last error as ``reason``."""
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_through_requests(_raised(NewConnectionError(None, "Failed to establish a new connection"), ConnectionRefusedError(111, "x"))), errors.ConnectionRefused),
        (_through_requests(_raised(NewConnectionError(None, "Failed to establish a new connection"), socket.gaierror(-2, "x"))), errors.NameResolutionFailed),
        (_through_requests(NameResolutionError("nowhere.invalid", None, socket.gaierror(-2, "x"))), errors.NameResolutionFailed),
        (requests.ConnectionError(ProtocolError("Connection aborted.", RemoteDisconnected("closed"))), errors.ConnectionLost),
        (_through_requests(ReadTimeoutError(None, "/x", "read timed out")), errors.Timeout),
        (requests.ConnectionError("something else"), errors.ConnectionRefused),
        (RuntimeError("[Errno 111] Connection refused"), errors.ServiceError),  # the wording alone decides nothing
    ],
)
def test_map_exception_reads_the_types_of_the_whole_chain(exc: BaseException, expected: type) -> None:
    assert type(map_exception(exc, service="ComfyUI")) is expected


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "expected", "text"),
    [
        (401, {"error": {"message": "Authentication Error, No api key passed in."}}, errors.AuthenticationFailed, "No api key"),
        (403, "", errors.PermissionDenied, "HTTP 403"),
        (404, "", errors.NotFound, "HTTP 404"),
        (429, {"error": {"message": "slow down"}}, errors.RateLimited, "slow down"),
        (400, {"error": {"type": "invalid_prompt", "message": "Cannot execute because node X does not exist."}}, errors.RequestRejected, "node X"),
        (500, "500 Internal Server Error\n\nServer got itself in trouble", errors.ServiceError, "Server got itself in trouble"),
        (502, "<html><body>Bad gateway</body></html>", errors.ServiceError, "HTTP 502."),
    ],
)
def test_http_errors_carry_the_server_message(status: int, body: object, expected: type, text: str) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body, "content_type": "text/html" if "<html" in str(body) else "text/plain"}
    responses.add(responses.GET, URL + "/x", status=status, **kwargs)
    with pytest.raises(expected) as caught:
        call(session(), "GET", URL + "/x", service="ComfyUI")
    assert text in caught.value.message
    assert caught.value.details["status"] == status


@responses.activate
def test_html_where_json_expected() -> None:
    responses.add(responses.GET, URL + "/system_stats", body="<!DOCTYPE html><title>Router</title>", content_type="text/html")
    response = call(session(), "GET", URL + "/system_stats")
    with pytest.raises(errors.MalformedResponse, match="web page"):
        json_of(response, "ComfyUI", "system statistics")


@responses.activate
def test_retry_after_is_reported() -> None:
    responses.add(responses.GET, URL + "/x", status=429, headers={"Retry-After": "7"}, json={"error": "busy"})
    with pytest.raises(errors.RateLimited) as caught:
        call(session(), "GET", URL + "/x", service="LiteLLM")
    assert caught.value.details["retry_after"] == "7"


def test_secrets_never_appear_in_errors() -> None:
    register_secret("sk-unit-test-secret-42")
    error = map_exception(RuntimeError("auth failed with key sk-unit-test-secret-42 and Authorization: Bearer abc123def"), service="LiteLLM")
    text = json.dumps(error.to_dict()) + str(error) + repr(error)
    assert "sk-unit-test-secret-42" not in text and "abc123def" not in text


def test_errors_survive_pickling_for_thread_handoff() -> None:
    error = errors.JobFailed("ComfyUI could not finish: boom", service="ComfyUI", details={"node": "3"})
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is errors.JobFailed and clone.message == error.message and clone.details == {"node": "3"}


def test_fix_is_exposed() -> None:
    fix = errors.Fix("Use port 8189", "services.comfyui.port", 8189, "movie-director config set comfyui.port 8189")
    error = errors.WrongService(service="ComfyUI", fix=fix)
    assert error.to_dict()["fix"]["value"] == 8189


def test_response_error_without_request_path() -> None:
    response = requests.Response()
    response.status_code = 418
    response._content = b"I'm a teapot"
    error = response_error(response, service="X")
    assert isinstance(error, errors.RequestRejected) and "teapot" in error.message


class NeedsTwoArguments(Exception):
    """Pickles, but cannot be loaded again (pickle calls it with one argument)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.code)
@pytest.mark.parametrize(
    "cause",
    [ValueError("bad value"), requests.ConnectionError(socket.socket()), NeedsTwoArguments("two", "words")],
    ids=["picklable", "holds-a-socket", "does-not-load"],
)
def test_every_error_pickles_with_every_field(cls: type[errors.MovieDirectorError], cause: BaseException) -> None:
    fix = errors.Fix("Use port 8189", "services.comfyui.port", 8189, "movie-director config set comfyui.port 8189")
    extra = {"problems": [errors.ValueProblem("/services/comfyui/port", "file", "too large", 99999, "1-65535", "a.yaml")]} if cls is errors.InvalidConfigError else {}
    error = cls("Something broke.", service="ComfyUI", hints=["Do this."], cause=cause, fix=fix, details={"status": 503}, **extra)
    clone = pickle.loads(pickle.dumps(error))
    try:
        assert type(clone) is cls and str(clone) == str(error) and clone.args == error.args
        assert (clone.service, clone.message, clone.hints, clone.fix, clone.details) == (error.service, error.message, error.hints, fix, {"status": 503})
        assert clone.to_dict() == error.to_dict(), "problems, cause, hints and fix all come back"
        assert getattr(clone, "problems", None) == getattr(error, "problems", None)
        assert errors.describe_cause(clone.cause) == errors.describe_cause(cause)
        if isinstance(cause, ValueError):
            assert type(clone.cause) is ValueError
    finally:
        for held in (cause, getattr(clone, "cause", None)):
            for arg in getattr(held, "args", ()):
                if isinstance(arg, socket.socket):
                    arg.close()
