"""``movie-director status``: one row per configured service, once or live (``--watch``).

The command runs the same :class:`~movie_director.manager.ServiceManager` as the add-on,
in observe-only mode: it checks the services and reads the shared operation queue,
but never runs queued operations (that stays with the process that owns them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

from movie_director.cli.arguments import add_timeout_option, fail, seconds
from movie_director.cli.commands import Commands
from movie_director.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE
from movie_director.cli.output import print_json, table
from movie_director.redact import redact

if TYPE_CHECKING:
    from movie_director.manager import ServiceManager, ServiceSnapshot, SystemSnapshot

DEFAULT_TIMEOUT = 10.0
HEADERS = ["service", "state", "status", "latency", "last check", "uptime", "queue", "queued ops", "next reconnect"]
CLEAR_BELOW = "\x1b[J"


def add_commands(commands: Commands) -> None:
    parser = commands.add("status", run,
        help="health, connection state and queued work of every configured service",
        description=(
            "Check every enabled service and show its state, latency, last check, uptime, "
            "the service's own queue, our queued operations and the next reconnect attempt. "
            f"Exit {EXIT_OK} when every service answers, {EXIT_UNREACHABLE} when a critical service (ComfyUI) cannot be reached, "
            f"{EXIT_FAILED} when another service is down or degraded. With --json and --watch: one JSON line per refresh."
        ),
    )
    parser.add_argument("--watch", action="store_true", help="refresh in place and print state changes until Ctrl-C")
    parser.add_argument("--interval", type=seconds, default=1.0, metavar="S", help="seconds between refreshes with --watch (default 1)")
    parser.add_argument("--watch-for", type=seconds, default=None, metavar="S", help="with --watch: stop watching after this long")
    add_timeout_option(parser, "the first check of every service", DEFAULT_TIMEOUT)


def run(args: argparse.Namespace) -> int:
    from movie_director.check import bounded
    from movie_director.config import load_config
    from movie_director.manager import ManagerOptions, ServiceManager

    if args.watch_for is not None and not args.watch:
        fail("--watch-for needs --watch: without it, status checks once and ends.", field="--watch-for", value=args.watch_for)
    config = load_config()
    config = replace(config, services={name: bounded(service, args.timeout) for name, service in config.services.items()})
    manager = ServiceManager(config, options=ManagerOptions(replay=False))
    try:
        manager.start()
        manager.wait_checked(args.timeout)
        if args.watch:
            watch(manager, args.interval, args.watch_for, args.json, sys.stdout)
        elif args.json:
            print_json(manager.snapshot().to_dict())
        else:
            sys.stdout.write(render(manager.snapshot()))
        return exit_code_of(manager.snapshot())
    finally:
        manager.close()


def exit_code_of(snapshot: SystemSnapshot) -> int:
    """3 when a critical service cannot be reached or stays silent (already after its first check; every server of it), 1 when any service is not online."""
    contacted = [service for service in snapshot.services if service.contacted]
    unreachable = [
        service for service in contacted if service.last_check is None or (service.status != "online" and (service.last_error or {}).get("category") == "Connection")
    ]
    down = {service.name for service in unreachable}
    if snapshot.status == "offline" or any(service.critical and _all_servers_in(snapshot, service, down) for service in unreachable):
        return EXIT_UNREACHABLE
    if snapshot.status == "degraded" or any(service.status != "online" for service in contacted):
        return EXIT_FAILED
    return EXIT_OK


def _all_servers_in(snapshot: SystemSnapshot, service: ServiceSnapshot, names: set[str]) -> bool:
    """Are all servers of ``service``'s service (just itself, for a lone server) among ``names``?"""
    group = service.group or service.name
    return all(other.name in names for other in snapshot.services if (other.group or other.name) == group)


def watch(manager: ServiceManager, interval: float, duration: float | None, as_json: bool, stream: TextIO) -> None:
    """Redraw the table in place on a terminal (append on a pipe); print every state change above it."""
    in_place = stream.isatty() and not as_json
    deadline = None if duration is None else time.monotonic() + duration
    drawn_lines = 0
    while True:
        snapshot = manager.snapshot()
        changes = [event.describe() for event in manager.drain_events()]
        if as_json:
            stream.write(redact(json.dumps(snapshot.to_dict(), default=str, ensure_ascii=False)) + "\n")
        else:
            text = render(snapshot)
            if in_place and drawn_lines:
                stream.write(f"\x1b[{drawn_lines}F{CLEAR_BELOW}")
            stream.writelines(redact(change) + "\n" for change in changes)
            if in_place or changes or not drawn_lines:
                stream.write(text)
                drawn_lines = text.count("\n")
        stream.flush()
        if deadline is not None and time.monotonic() >= deadline:
            return
        time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))


def render(snapshot: SystemSnapshot) -> str:
    """The table, a line per error, and the overall status, as text."""
    from io import StringIO

    buffer = StringIO()
    table([_row(service, snapshot.taken_at) for service in snapshot.services], HEADERS, buffer)
    for group, servers in _several_servers(snapshot).items():
        listed = ", ".join(f"{server.name} {server.url}" for server in servers)
        buffer.write(f"  {group}: {len(servers)} servers ({listed}), {servers[0].queued_ops} queued ops shared; each goes to the least loaded ready one\n")
    for service in snapshot.services:
        if service.waiting:
            buffer.write(f"  {service.name}: {service.waiting}\n")
        if service.last_error:
            buffer.write(f"  {service.name}: {service.last_error.get('message', '')}\n")
    buffer.write(f"system: {snapshot.status}\n")
    return buffer.getvalue()


def _row(service: ServiceSnapshot, now: float) -> list[str]:
    history = service.history
    return [
        service.name,
        service.state,
        service.status,
        "-" if service.latency_ms is None else f"{service.latency_ms:.0f} ms",
        "-" if service.last_check is None else f"{max(0.0, now - service.last_check):.0f} s ago",
        "-" if history.uptime_pct is None else f"{history.uptime_pct:.1f} %",
        _queue(service),
        str(service.queued_ops),
        "-" if service.next_reconnect_in is None else f"in {service.next_reconnect_in:.0f} s",
    ]


def _queue(service: ServiceSnapshot) -> str:
    """The server's own queue; for one of several servers, plus what we sent it since its last check (its load)."""
    queue = "-" if service.backend_queue_depth is None else f"{service.backend_queue_depth:.0f}"
    return f"{queue} +{service.in_flight} sent" if _one_of_several(service) and service.in_flight else queue


def _several_servers(snapshot: SystemSnapshot) -> dict[str, list[ServiceSnapshot]]:
    """The services with several servers (each a row of its own), by service name."""
    groups: dict[str, list[ServiceSnapshot]] = {}
    for service in snapshot.services:
        if _one_of_several(service):
            groups.setdefault(service.group, []).append(service)
    return groups


def _one_of_several(service: ServiceSnapshot) -> bool:
    """A server of a service with several (named ``comfyui#2``; a lone server carries its service's name)."""
    return bool(service.group) and service.group != service.name
