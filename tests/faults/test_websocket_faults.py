"""ComfyUI's live socket under faults, while a job runs: the job still ends once, in time.

ComfyUI is the one backend with a WebSocket (Gradio apps and LiteLLM stream over HTTP:
their mid-answer cuts and mid-job crashes are in ``test_job_faults.py``). The client talks to a
private stand-in through a :class:`FaultProxy`, which slips frames the real server
would never send into the socket at a frame boundary, or cuts every connection. The
client runs with a 1 s keep-alive and reconciliation interval so that recoveries that
take those intervals fit a short bound.

Each case: the job's outcome within its bound (a succeeded job despite garbage, an
oversize or lying frame or a cut; ``job_lost`` when the server restarts under it), the
prompt ran exactly once (its output files; after a ``job_lost``, once more after a
retry with the same ``prompt_id``), the socket open again afterwards, and no leaked
thread or socket.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from movie_director_plugins.comfyui.client import ComfyUIClient
from movie_director_plugins.comfyui.jobs import JobState
from movie_director_plugins.comfyui.session import SocketState
from movie_director_testing.faultproxy import OPCODE_BINARY, OPCODE_TEXT, FaultProxy, ws_frame
from movie_director_testing.processes import ServerProcess, wait_until

pytestmark = pytest.mark.integration

NODE_DELAY = 0.4  # two nodes: a job runs ~0.8 s, long enough to hit it mid-way
INTERVAL = 1.0  # keep-alive ping and reconciliation
BOUND = 2 * NODE_DELAY + 2 * INTERVAL + 3.0

GARBAGE_TEXT = (
    b"this is not json",
    b"\xff\xfe\xfd invalid utf-8",
    b"null",
    b"[1, 2, 3]",
    b'{"type": "executing", "data": 5}',
    b'{"type": "progress", "data": {"value": "half", "max": null}}',
    b'{"no_type": true}',
)
GARBAGE_BINARY = (
    b"",
    b"\x00",
    b"\x00\x00\x00\x09unknown event type",
    b"\x00\x00\x00\x01\x00\x00\x00\x02not a png",  # a preview image that is no image
)


@pytest.fixture(scope="module")
def comfyui() -> Iterator[ServerProcess]:
    """A stand-in of this module's own: its speed and socket switches change here."""
    from movie_director_testing.comfyui_standin import launch

    server = launch(node_delay=NODE_DELAY)
    with server:
        yield server


@pytest.fixture
def proxy(comfyui: ServerProcess) -> Iterator[FaultProxy]:
    with FaultProxy(comfyui.port) as relay:
        yield relay


@pytest.fixture
def client(kit, proxy: FaultProxy) -> Iterator[ComfyUIClient]:
    with ComfyUIClient(kit.service(proxy.url, "comfyui", timeout=2.0), ping_interval=INTERVAL, safety_interval=INTERVAL) as comfy:
        yield comfy


def control(server: ServerProcess, **settings: object) -> None:
    requests.post(server.url + "/_standin/control", json=settings, timeout=5).raise_for_status()


def into_the_socket(proxy: FaultProxy, *frames: bytes) -> Callable[[], None]:
    """A mid-job action: slip ``frames`` into the client's one live socket."""

    def inject() -> None:
        assert proxy.inject(*frames) == 1, "one upgraded connection to inject into"

    return inject


def run_job_with(kit, client: ComfyUIClient, mid_job: Callable[[], None]) -> tuple[str, object]:
    """Submit a job, do ``mid_job`` once it runs, and wait for its end; (prompt id, outcome)."""
    prompt_id = f"md-ws-{uuid.uuid4().hex[:8]}"
    job = client.submit(kit.graph_for(prompt_id), prompt_id=prompt_id)
    wait_until(lambda: job.status is JobState.RUNNING or job.done, 5, interval=0.01, message="job running")
    mid_job()
    return prompt_id, kit.run(lambda: job.wait(BOUND).status.value, unstick=client.close, bound=BOUND)


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param([ws_frame(text, OPCODE_TEXT) for text in GARBAGE_TEXT], id="garbage-text"),
        pytest.param([ws_frame(data, OPCODE_BINARY) for data in GARBAGE_BINARY], id="garbage-binary"),
        pytest.param([ws_frame(b"\x00\x00\x00\x01" + bytes(16 * 1024 * 1024), OPCODE_BINARY)], id="oversize-16MB"),
    ],
)
def test_frames_the_server_never_sends_do_not_hurt_the_job(kit, comfyui, proxy, client, frames: list[bytes]) -> None:
    prompt_id, outcome = run_job_with(kit, client, into_the_socket(proxy, *frames))
    outcome.expect("ok", BOUND)
    assert client.socket_state is SocketState.OPEN
    assert kit.comfyui_runs(comfyui.url, prompt_id) == 1


def test_garbage_from_the_server_itself_does_not_hurt_the_job(kit, comfyui, client) -> None:
    prompt_id, outcome = run_job_with(kit, client, lambda: control(comfyui, send_garbage=True))
    outcome.expect("ok", BOUND)
    assert kit.comfyui_runs(comfyui.url, prompt_id) == 1


def test_a_frame_claiming_a_terabyte_is_cut_off_and_the_job_still_ends(kit, comfyui, proxy, client) -> None:
    """The reader swallows everything after it as payload; polling finishes the job, the keep-alive reconnects."""
    prompt_id, outcome = run_job_with(kit, client, into_the_socket(proxy, ws_frame(length=1 << 40, opcode=OPCODE_BINARY)))
    outcome.expect("ok", BOUND)
    wait_until(lambda: client._socket.reconnects >= 1 and client.socket_state is SocketState.OPEN, 3 * INTERVAL + 2, message="socket reopened")  # noqa: SLF001
    assert kit.comfyui_runs(comfyui.url, prompt_id) == 1


@pytest.mark.parametrize("cut", ["proxy-rst", "server-abort"])
def test_an_abrupt_close_mid_job_reconnects_and_the_job_ends_once(kit, comfyui, proxy, client, cut: str) -> None:
    def close_now() -> None:
        if cut == "proxy-rst":
            assert proxy.cut() >= 1
        else:
            control(comfyui, drop_websockets=True)

    prompt_id, outcome = run_job_with(kit, client, close_now)
    outcome.expect("ok", BOUND)
    wait_until(lambda: client.socket_state is SocketState.OPEN, 2 * INTERVAL + 5, message="socket reopened")
    assert client._socket.reconnects >= 1  # noqa: SLF001
    assert kit.comfyui_runs(comfyui.url, prompt_id) == 1


def test_refused_upgrades_fall_back_to_polling(kit, comfyui, client) -> None:
    control(comfyui, refuse_websockets=True)
    try:
        prompt_id = f"md-ws-{uuid.uuid4().hex[:8]}"
        outcome = kit.run(lambda: client.submit(kit.graph_for(prompt_id), prompt_id=prompt_id).wait(BOUND).status.value, unstick=client.close, bound=BOUND)
    finally:
        control(comfyui, refuse_websockets=False)
    outcome.expect("ok", BOUND)
    assert client.events_mode == "polling" and client.socket_error is not None and client.socket_error.code == "websocket_closed"
    assert kit.comfyui_runs(comfyui.url, prompt_id) == 1


def test_a_server_restart_mid_job_is_job_lost_and_a_retry_runs_it_once(kit) -> None:
    from movie_director_testing.comfyui_standin import launch

    # A slow first node: the kill lands before the job writes its file. (Not `backend_servers`: its
    # stop() leaves each server's log file open until the test's fixtures are dropped.)
    with launch(node_delay=1.0) as server:
        service = kit.service(server.url, "comfyui", timeout=2.0)
        with ComfyUIClient(service, ping_interval=INTERVAL, safety_interval=INTERVAL) as client:
            prompt_id, outcome = run_job_with(kit, client, lambda: (server.kill(), server.start()))
        outcome.expect("job_lost", BOUND)
        assert prompt_id in outcome.error.message
        kit.assert_ran_once_after_a_retry(server.url, server.url, prompt_id, ok=False)
