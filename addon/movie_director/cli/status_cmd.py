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
from typing import TextIO

from movie_director.cli.output import print_json, table
from movie_director.config import load_config
from movie_director.manager import ManagerOptions, ServiceManager, ServiceSnapshot, SystemSnapshot
from movie_director.redact import redact

EXIT_SYSTEM_OFFLINE = 3
HEADERS = ["service", "state", "status", "latency", "last check", "uptime", "queue", "queued ops", "next reconnect"]
CLEAR_BELOW = "\x1b[J"


def add_parser(subcommands: argparse._SubParsersAction) -> None:  # noqa: SLF001
    parser = subcommands.add_parser(
        "status",
        help="health, connection state and queued work of every configured service",
        description=(
            "Check every enabled service and show its state, latency, last check, uptime, "
            "the service's own queue, our queued operations and the next reconnect attempt. "
            f"Exit 0, or {EXIT_SYSTEM_OFFLINE} when the system is offline (a critical service such as ComfyUI is unreachable)."
        ),
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output (with --watch: one JSON line per refresh)")
    parser.add_argument("--watch", action="store_true", help="refresh in place and print state changes until Ctrl-C")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes with --watch (default 1)")
    parser.add_argument("--watch-for", type=float, default=None, metavar="SECONDS", help="stop watching after this long")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the first check of every service (default 10)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    manager = ServiceManager(load_config(), options=ManagerOptions(replay=False))
    try:
        manager.start()
        manager.wait_checked(args.timeout)
        if args.watch:
            watch(manager, args.interval, args.watch_for, args.json, sys.stdout)
        elif args.json:
            print_json(manager.snapshot().to_dict())
        else:
            sys.stdout.write(render(manager.snapshot()))
        return EXIT_SYSTEM_OFFLINE if manager.snapshot().status == "offline" else 0
    finally:
        manager.close()


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
        "-" if service.backend_queue_depth is None else f"{service.backend_queue_depth:.0f}",
        str(service.queued_ops),
        "-" if service.next_reconnect_in is None else f"in {service.next_reconnect_in:.0f} s",
    ]
