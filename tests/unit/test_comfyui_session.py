"""The live socket against a scripted in-process WebSocket server: handshake, events, drops, refusals."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from movie_director.check import adhoc_service
from movie_director.configdata import AuthRef, ServiceConfig
from movie_director.errors import AuthenticationFailed, ConnectionRefused, WebSocketClosed
from movie_director_plugins.comfyui.events import ComfyUIEvent
from movie_director_plugins.comfyui.session import SocketOptions, SocketState, WebSocketSession, socket_options
from movie_director_testing.processes import free_port, wait_until
from movie_director_testing.scripted_ws import CLOSE, Peer, ScriptedWebSocketServer

CLIENT_ID = "3a33c0de-0000-4000-8000-00000000beef"


def comfy_service(url: str, **overrides: object) -> ServiceConfig:
    return adhoc_service(url, "comfyui", **overrides)


def text(kind: str, **data: object) -> str:
    return json.dumps({"type": kind, "data": data})


class Recorder:
    def __init__(self) -> None:
        self.events: list[ComfyUIEvent] = []
        self.states: list[SocketState] = []
        self.errors: list[object] = []

    def on_event(self, event: ComfyUIEvent) -> None:
        self.events.append(event)

    def on_state(self, state: SocketState, error: object) -> None:
        self.states.append(state)
        self.errors.append(error)

    def types(self) -> list[str]:
        return [event.type for event in self.events]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@contextmanager
def serve(handler: Callable[[Peer], None], **options: object) -> Iterator[ScriptedWebSocketServer]:
    server = ScriptedWebSocketServer(handler, **options).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def session_for(server: ScriptedWebSocketServer, recorder: Recorder, **options: object) -> WebSocketSession:
    return WebSocketSession(SocketOptions(server.url + "/ws", **options), CLIENT_ID, recorder.on_event, recorder.on_state)  # type: ignore[arg-type]


def test_handshake_feature_flags_then_events_in_order(recorder: Recorder) -> None:
    first_messages: list[bytes] = []

    def handler(peer: Peer) -> None:
        first = peer.receive(5)
        first_messages.append(first[1] if first else b"")
        peer.send_text(text("status", status={"exec_info": {"queue_remaining": 0}}, sid=peer.query.get("clientId")))
        peer.send_text("stand-in garbage: this is not JSON {")
        peer.send_binary(b"\x00\x01")
        peer.send_binary(struct.pack(">II", 1, 2) + b"PNG")
        peer.send_text(text("brand_new", anything=1))
        peer.send_text(text("executing", node=None, prompt_id="p"))
        peer.wait_closed(5)

    with serve(handler) as server:
        session = session_for(server, recorder)
        session.connect()
        wait_until(lambda: len(recorder.events) == 6, 5, message="six events")
        peer = server.peers[0]
        assert peer.path == "/ws" and peer.query == {"clientId": CLIENT_ID}
        assert "origin" not in peer.headers, "ComfyUI answers 403 when Origin and Host differ"
        assert json.loads(first_messages[0]) == {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
        assert recorder.types() == ["status", "malformed", "malformed", "preview_image", "brand_new", "executing"]
        assert recorder.events[0].sid == CLIENT_ID  # type: ignore[attr-defined]
        assert session.is_open and session.frames == 6
        session.close()
        assert session.state is SocketState.CLOSED
        assert wait_until(lambda: peer.received and peer.received[-1][0] == CLOSE, 5, message="close frame")


def test_auth_headers_go_on_the_handshake(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MD_TEST_COMFY_TOKEN", "s3cret-token")
    with serve(lambda peer: peer.wait_closed(5)) as server:
        service = comfy_service(server.url.replace("ws://", "http://"), auth=AuthRef("MD_TEST_COMFY_TOKEN"))
        options = socket_options(service, service.url)
        assert options.url == server.url + "/ws"
        assert "s3cret" not in repr(options)
        session = WebSocketSession(options, CLIENT_ID, recorder.on_event)
        session.connect()
        wait_until(lambda: server.peers, 5, message="connection")
        assert server.peers[0].headers["authorization"] == "Bearer s3cret-token"
        session.close()


def test_socket_options_for_https_and_api_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    service = comfy_service("https://gpu.example.test:8443/comfy", ca_bundle="/etc/ca.pem")
    options = socket_options(service, "https://gpu.example.test:8443/comfy/api")
    assert options.url == "wss://gpu.example.test:8443/comfy/api/ws"
    assert options.sslopt["ca_certs"] == "/etc/ca.pem" and options.sslopt["check_hostname"] is True
    assert options.proxy == {}
    proxied = socket_options(comfy_service("http://gpu.example.test:8188", proxy="http://proxy.test:3128"), "http://gpu.example.test:8188")
    assert proxied.proxy == {"http_proxy_host": "proxy.test", "http_proxy_port": 3128, "proxy_type": "http"}
    local = socket_options(comfy_service("http://127.0.0.1:8188"), "http://127.0.0.1:8188")
    assert local.proxy == {"http_no_proxy": ["127.0.0.1"]}


def test_a_dropped_link_reconnects_under_the_same_id(recorder: Recorder) -> None:
    def handler(peer: Peer) -> None:
        peer.receive(5)
        peer.send_text(text("status", sid=peer.query["clientId"]))
        if len(server.peers) == 1:
            peer.drop()  # like a killed server: no close frame
            return
        peer.send_text(text("executing", node="12"))
        peer.wait_closed(5)

    with serve(handler) as server:
        session = session_for(server, recorder, backoff=0.01)
        session.connect()
        wait_until(lambda: recorder.types().count("status") == 2 and "executing" in recorder.types(), 5, message="events after reconnect")
        assert [peer.query["clientId"] for peer in server.peers] == [CLIENT_ID, CLIENT_ID]
        assert recorder.states[:3] == [SocketState.OPEN, SocketState.RECONNECTING, SocketState.OPEN]
        assert session.reconnects == 1
        session.close()


def test_the_old_socket_is_closed_before_the_new_one_opens(recorder: Recorder) -> None:
    old_closed_at_second_handshake: list[bool] = []

    def handler(peer: Peer) -> None:
        if len(server.peers) == 2:
            first = server.peers[0].sock
            try:
                first.setblocking(False)
                first.recv(1, socket.MSG_PEEK)  # data (the close frame) or b"" (FIN): the client closed it first
                old_closed_at_second_handshake.append(True)
            except BlockingIOError:
                old_closed_at_second_handshake.append(False)
            except OSError:
                old_closed_at_second_handshake.append(True)  # already read and closed by its own thread
        peer.wait_closed(5)

    with serve(handler) as server:
        session = session_for(server, recorder)
        session.connect()
        wait_until(lambda: server.peers, 5, message="first connection")
        session.recycle()
        wait_until(lambda: old_closed_at_second_handshake, 5, message="second handshake")
        assert old_closed_at_second_handshake == [True]
        session.close()


def test_a_silent_link_is_pinged_then_cut_and_reopened(recorder: Recorder) -> None:
    def handler(peer: Peer) -> None:
        peer.answer_pings = len(server.peers) > 1
        peer.receive(5)
        peer.wait_closed(5)

    with serve(handler) as server:
        session = session_for(server, recorder, ping_interval=0.1, backoff=0.01)
        session.connect()
        wait_until(lambda: server.handshakes == 2, 5, message="reconnect after an unanswered ping")
        assert server.peers[0].pings >= 1
        assert isinstance(recorder.errors[1], WebSocketClosed) and "stopped answering" in recorder.errors[1].message
        wait_until(lambda: server.peers[1].pings >= 2, 5, message="pings answered on the new link")
        assert server.handshakes == 2, "an answered ping keeps the link"
        session.close()


def test_a_failing_event_handler_does_not_stop_the_reader(recorder: Recorder) -> None:
    def handler(peer: Peer) -> None:
        peer.receive(5)
        peer.send_text(text("first"))
        peer.send_text(text("second"))
        peer.wait_closed(5)

    def explode_once(event: ComfyUIEvent) -> None:
        if event.type == "first":
            raise RuntimeError("consumer bug")
        recorder.on_event(event)

    with serve(handler) as server:
        session = WebSocketSession(SocketOptions(server.url + "/ws"), CLIENT_ID, explode_once)
        session.connect()
        wait_until(lambda: recorder.types() == ["second"], 5, message="second event")
        session.close()


@pytest.mark.parametrize(("status", "error"), [(403, WebSocketClosed), (502, WebSocketClosed), (401, AuthenticationFailed)])
def test_a_refused_handshake_is_typed_and_marked(recorder: Recorder, status: int, error: type[Exception]) -> None:
    with serve(lambda peer: None, reject_status=status) as server:
        session = session_for(server, recorder)
        with pytest.raises(error) as caught:
            session.connect()
        assert caught.value.details["handshake_status"] == status  # type: ignore[attr-defined]
        assert session.state is SocketState.IDLE


def test_refusals_after_a_drop_make_the_socket_unavailable(recorder: Recorder) -> None:
    def handler(peer: Peer) -> None:
        peer.receive(5)
        server.reject_status = 403
        peer.drop()

    with serve(handler) as server:
        session = session_for(server, recorder, backoff=0.01)
        session.connect()
        wait_until(lambda: SocketState.UNAVAILABLE in recorder.states, 5, message="unavailable")
        assert recorder.errors[-1].details["handshake_status"] == 403  # type: ignore[union-attr]
        session.close()


def test_nothing_listening_is_connection_refused(recorder: Recorder) -> None:
    session = WebSocketSession(SocketOptions(f"ws://127.0.0.1:{free_port()}/ws"), CLIENT_ID, recorder.on_event, start_hint="Start it.")
    with pytest.raises(ConnectionRefused) as caught:
        session.connect()
    assert caught.value.hints[0] == "Start it."


def test_reconnect_keeps_trying_while_the_server_is_down_and_stops_on_close(recorder: Recorder) -> None:
    def handler(peer: Peer) -> None:
        peer.receive(5)
        server.stop()  # stops listening too: every reconnect is refused

    with serve(handler) as server:
        session = session_for(server, recorder, backoff=0.01, backoff_cap=0.05)
        session.connect()
        wait_until(lambda: isinstance(session.last_error, ConnectionRefused), 5, message="refused reconnects")
        assert recorder.states[-1] is SocketState.RECONNECTING
        session.close()
        assert session.state is SocketState.CLOSED
