"""The plugin: a Backend subclass, an operation executor and a command, each given to its hook."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import requests

from movie_director.backend import Backend, Capability, HealthSample, ProbeResult
from movie_director.check import bounded, service_for
from movie_director.cli.arguments import add_target_options, add_timeout_option
from movie_director.cli.commands import Commands
from movie_director.cli.output import print_json
from movie_director.configdata import ServiceConfig
from movie_director.errors import map_exception
from movie_director.hookspecs import hookimpl
from movie_director.http import build_session, call, json_of, probe_session
from movie_director.operations import OperationContext, OperationExecutor

#: The queued operation this pack runs: the payload's ``body`` sent to the service, its echo as the result.
SEND = "echo.send"


class EchoConnection:
    """What the pool holds: a session bound to one echo service."""

    def __init__(self, service: ServiceConfig) -> None:
        self.service = service
        self.session: requests.Session = build_session(service)

    def echo(self, payload: object) -> object:
        response = call(self.session, "POST", self.service.url + "/echo", service="Echo", json=payload)
        return json_of(response, "Echo")["echo"]

    def close(self) -> None:
        self.session.close()


class EchoBackend(Backend[EchoConnection]):
    kind = "echo"
    display_name = "Echo"
    default_url = "http://127.0.0.1:7070"
    default_ports = (7070,)
    start_hint = "Start it with `python -m md_echo.server --port 7070`."

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        started = time.perf_counter()
        with probe_session(url, timeout) as session:
            try:
                body = session.get(url.rstrip("/") + "/echo/health").json()
            except (requests.RequestException, ValueError):
                return None
        if not (isinstance(body, dict) and body.get("service") == "echo"):
            return None
        return ProbeResult(self.kind, url, str(body.get("version", "")), (time.perf_counter() - started) * 1000)

    def connect(self, service: ServiceConfig) -> EchoConnection:
        return EchoConnection(service)

    def health(self, connection: EchoConnection) -> HealthSample:
        started = time.perf_counter()
        try:
            body = json_of(call(connection.session, "GET", connection.service.url + "/echo/health", service="Echo"), "Echo")
        except Exception as exc:  # noqa: BLE001 - health never raises: it reports
            return HealthSample(False, (time.perf_counter() - started) * 1000, error=map_exception(exc, "Echo").to_dict())
        return HealthSample(True, (time.perf_counter() - started) * 1000, version=str(body.get("version", "")))

    def capabilities(self, connection: EchoConnection) -> list[Capability]:
        return [Capability("echo.json", "echo")]


def send_operation(ctx: OperationContext) -> object:
    """``echo.send``: safe to run again after a crash, the echo service keeps nothing."""
    return ctx.connection.echo(ctx.payload["body"])


def run_send(args: argparse.Namespace) -> int:
    """``movie-director echo TEXT``: one round trip, the answer printed (JSON with --json)."""
    connection = EchoConnection(bounded(service_for(args.url or args.service, "echo"), args.timeout))
    try:
        answer = connection.echo(args.text)
    finally:
        connection.close()
    if args.json:
        print_json({"echo": answer})
    else:
        print(answer)
    return 0


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(EchoBackend)


@hookimpl
def register_operations(register: Callable[[str, OperationExecutor], None]) -> None:
    register(SEND, send_operation)


@hookimpl
def register_commands(commands: Commands) -> None:
    echo = commands.add("echo", run_send, help="send TEXT to the echo service and print its answer")
    echo.add_argument("text", help="what to send")
    add_target_options(echo, "echo", EchoBackend.default_url)
    add_timeout_option(echo, "the answer", 5.0)
