"""The Gradio transport without a server: API cache, session clients, progress and error mapping."""

from __future__ import annotations

import concurrent.futures
import os
import time
from typing import Any

import pytest
import responses
from gradio_client.exceptions import AppError
from gradio_client.utils import ProgressUnit, QueueError, Status, StatusUpdate

from movie_director.check import adhoc_service
from movie_director.errors import (
    AuthenticationFailed,
    ConnectionLost,
    ConnectionRefused,
    JobCancelled,
    JobFailed,
    JobLost,
    MalformedResponse,
    NotFound,
    RateLimited,
    RequestRejected,
    UnsupportedVersion,
    WrongService,
)
from movie_director.progress import Phase, Progress
from movie_director_plugins.gradio.transport import GradioTransport, ProgressTracker, _new_client, _retire, forget_app, job_error, progress_of
from movie_director_testing.processes import free_port

PORT = free_port()
URL = f"http://127.0.0.1:{PORT}"
CONFIG = {
    "version": "6.31.0",
    "protocol": "sse_v3",
    "api_prefix": "/gradio_api",
    "app_id": 1,
    "connect_heartbeat": False,
    "components": [{"id": 1, "type": "textbox", "props": {}}, {"id": 2, "type": "textbox", "props": {}}],
    "dependencies": [
        {"id": 0, "api_name": "echo", "inputs": [1], "outputs": [2], "targets": [[3, "click"]], "backend_fn": True, "types": {}},
        {"id": 1, "api_name": "shout", "inputs": [1], "outputs": [2], "targets": [[4, "click"]], "backend_fn": True, "types": {}},
    ],
}
TEXT = {"label": "text", "parameter_name": "text", "parameter_has_default": False, "type": {"type": "string"}, "python_type": {"type": "str"}, "component": "Textbox"}
INFO = {"named_endpoints": {"/echo": {"parameters": [TEXT], "returns": []}, "/shout": {"parameters": [TEXT], "returns": []}}, "unnamed_endpoints": {}}


@pytest.fixture(autouse=True)
def fresh_cache() -> Any:
    forget_app()
    yield
    forget_app()


def serve(config: dict[str, Any] | None = None, app_id: int = 1) -> None:
    responses.get(f"{URL}/config", json=config or CONFIG)
    responses.get(f"{URL}/gradio_api/info", json=INFO)
    responses.get(f"{URL}/gradio_api/app_id", json={"app_id": app_id})


def calls_to(path: str) -> int:
    return sum(1 for call in responses.calls if call.request.url.split("?")[0].endswith(path))


@responses.activate
def test_api_info_is_fetched_once_per_app_start() -> None:
    serve()
    transport = GradioTransport(adhoc_service(URL, "gradio"))
    assert set(transport.app().endpoints) == {"echo", "shout"}
    transport.app()
    transport.app()
    assert (calls_to("/config"), calls_to("/info"), calls_to("/app_id")) == (1, 1, 2)
    responses.replace(responses.GET, f"{URL}/gradio_api/app_id", json={"app_id": 2})  # restarted
    responses.replace(responses.GET, f"{URL}/config", json={**CONFIG, "app_id": 2})
    assert transport.app().app_id == 2
    assert calls_to("/config") == 2


@responses.activate
def test_a_second_transport_reuses_the_cache() -> None:
    serve()
    GradioTransport(adhoc_service(URL, "gradio")).app()
    GradioTransport(adhoc_service(URL, "gradio")).app()
    assert calls_to("/config") == 1


@responses.activate
def test_a_server_that_went_down_is_told_fast() -> None:
    serve()
    transport = GradioTransport(adhoc_service(URL, "gradio"))
    app = transport.app()
    responses.reset()  # nothing answers any more
    started = time.monotonic()
    with pytest.raises(ConnectionRefused):
        transport.app()
    assert time.monotonic() - started < 1  # the app_id check does not retry
    assert transport.server_state(app) == "down"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"json": {"system": {"os": "posix"}}}, WrongService),
        ({"body": "<!doctype html><html></html>", "content_type": "text/html"}, MalformedResponse),
        ({"json": {**CONFIG, "protocol": "ws", "version": "3.50.2"}}, UnsupportedVersion),
        ({"json": {"detail": "Not authenticated"}, "status": 401}, AuthenticationFailed),
    ],
)
@responses.activate
def test_what_is_not_a_usable_gradio_app(body: dict[str, Any], error: type[Exception]) -> None:
    responses.get(f"{URL}/config", **body)
    with pytest.raises(error):
        GradioTransport(adhoc_service(URL, "gradio")).app()


@responses.activate
def test_gradio_login_with_a_basic_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from movie_director.configdata import AuthRef

    monkeypatch.setenv("MD_TEST_GRADIO_AUTH", "artist:s3cret-pass")
    responses.get(f"{URL}/config", json={"detail": "Not authenticated"}, status=401)
    responses.get(f"{URL}/config", json=CONFIG)  # the same route once logged in
    responses.post(f"{URL}/login", json={"success": True}, headers={"Set-Cookie": "access-token=abc; Path=/"})
    responses.get(f"{URL}/gradio_api/info", json=INFO)
    transport = GradioTransport(adhoc_service(URL, "gradio", auth=AuthRef("MD_TEST_GRADIO_AUTH", "basic")))
    assert set(transport.app().endpoints) == {"echo", "shout"}
    login = next(call for call in responses.calls if call.request.url.endswith("/login"))
    assert login.request.body == "username=artist&password=s3cret-pass"
    assert transport._http.cookies.get("access-token") == "abc"  # noqa: SLF001 - handed to every session client


@responses.activate
def test_session_clients_are_built_offline_and_leak_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    serve()
    transport = GradioTransport(adhoc_service(URL, "gradio"))
    app = transport.app()
    monkeypatch.setenv("HF_TOKEN", "hf_not_for_local_apps")
    before = len(responses.calls)
    first = _new_client(transport, app, [0])
    second = _new_client(transport, app, [0])
    try:
        assert len(responses.calls) == before  # no /config, no /info: built from the cache
        assert first.session_hash != second.session_hash
        assert list(first.endpoints) == [0]  # cut down to the events the session calls
        assert not any("authorization" in key.lower() for key in first.headers)
        assert first.analytics_enabled is False and os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    finally:
        _retire(first)
        _retire(second)


def status(code: Status, **fields: Any) -> StatusUpdate:
    values = {"rank": None, "queue_size": None, "eta": None, "success": None, "time": None, "progress_data": None, **fields}
    return StatusUpdate(code=code, **values)


def test_progress_queue_then_steps() -> None:
    assert progress_of(status(Status.STARTING)) is None
    queued = progress_of(status(Status.IN_QUEUE, rank=2, queue_size=3, eta=4.5))
    assert queued == Progress(Phase.QUEUED, queue_rank=2, queue_size=3, eta=4.5)
    step = progress_of(status(Status.PROGRESS, progress_data=[ProgressUnit(index=3, length=12, unit="steps", progress=None, desc="denoising")]))
    assert step == Progress(Phase.RUNNING, fraction=0.25, step=3, total=12, unit="steps")
    assert progress_of(status(Status.ITERATING), step, "Generating...") == Progress(Phase.RUNNING, fraction=0.25, step=3, total=12, unit="steps", message="Generating...")


def test_tracker_sends_each_change_once() -> None:
    seen: list[Progress] = []
    tracker = ProgressTracker(seen.append)
    for update in (status(Status.IN_QUEUE, rank=0), status(Status.IN_QUEUE, rank=0), status(Status.PROCESSING), status(Status.ITERATING)):
        tracker.update(update)
    assert [event.phase for event in seen] == [Phase.QUEUED, Phase.RUNNING]


def never(state: str = "same") -> Any:
    def server_state() -> str:
        if state == "unasked":
            raise AssertionError("the server must not be asked")
        return state

    return server_state


@pytest.mark.parametrize(
    ("exc", "cancelled", "state", "expected"),
    [
        (AppError("boom: bad prompt"), False, "unasked", JobFailed),
        (concurrent.futures.CancelledError(), True, "unasked", JobCancelled),
        (concurrent.futures.CancelledError(), False, "down", ConnectionLost),
        (concurrent.futures.CancelledError(), False, "restarted", JobLost),
        (concurrent.futures.CancelledError(), False, "same", JobCancelled),
        (KeyError("Could not find 'data' key in response. Response received: {}"), True, "unasked", JobCancelled),
        (QueueError("Queue is full! Please try again."), False, "unasked", RateLimited),
        (TypeError("No value provided for required argument: prompt"), False, "unasked", RequestRejected),
        (ValueError("Cannot find a function with `api_name`: /nope."), False, "unasked", NotFound),
        (ConnectionRefusedError(111, "Connection refused"), False, "same", ConnectionRefused),
        (OSError("connection reset"), False, "down", ConnectionLost),
    ],
)
def test_job_errors_are_typed(exc: BaseException, cancelled: bool, state: str, expected: type[Exception]) -> None:
    error = job_error(exc, "generate", "Wan2GP", cancelled=cancelled, server_state=never(state), start_hint="Start Wan2GP.")
    assert type(error) is expected
    assert error.details.get("endpoint", "generate") == "generate"


def test_app_error_keeps_the_apps_words() -> None:
    error = job_error(AppError("An error happened while denoising"), "process_tasks", "Wan2GP", False, never("unasked"))
    assert error.message == "Wan2GP reported an error: An error happened while denoising"
    assert error.details["app_message"] == "An error happened while denoising"


def test_went_away_says_how_to_start_it() -> None:
    error = job_error(concurrent.futures.CancelledError(), "process_tasks", "Wan2GP", False, never("down"), start_hint="Start Wan2GP: python wgp.py")
    assert "went away" in error.message and error.hints[0] == "Start Wan2GP: python wgp.py"
