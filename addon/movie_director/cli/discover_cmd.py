"""``movie-director discover``: which backends run where, found by scanning ports."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from movie_director.cli.commands import Commands
from movie_director.cli.output import print_error, print_json
from movie_director.errors import InvalidConfigError

if TYPE_CHECKING:
    from movie_director.configdata import Config
    from movie_director.discovery import DiscoveryResult


def add_commands(commands: Commands) -> None:
    from movie_director.discovery import DEFAULT_TIMEOUT

    parser = commands.add("discover", run,
        help="scan ports for ComfyUI, Wan2GP, LiteLLM and other backends",
        description=(
            "Scan every backend's default ports (plus --ports) on 127.0.0.1 and ::1 (plus --hosts and the hosts "
            "of configured services), name what answers, and remember it for `movie-director services`. Exit 0."
        ),
    )
    parser.add_argument("--hosts", type=_hosts, default=[], metavar="H,...", help="more hosts to scan (names or addresses)")
    parser.add_argument("--ports", type=_ports, default=[], metavar="SPEC", help="more ports, e.g. 7000-9000,8188")
    parser.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="S", help=f"seconds to identify one port (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--adopt", action="store_true", help="write every service found into the config file (comments kept), in the active profile")
    parser.add_argument(
        "--as-instances", action="store_true",
        help="with --adopt: a server of a kind already configured elsewhere joins that service's instances instead of becoming a new service",
    )


def _hosts(text: str) -> list[str]:
    return [host.strip() for host in text.split(",") if host.strip()]


def _ports(text: str) -> list[int]:
    from movie_director.discovery import parse_ports

    try:
        return parse_ports(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    value = float(text)
    if not 0.05 <= value <= 60:
        raise argparse.ArgumentTypeError("the timeout must be from 0.05 to 60 seconds")
    return value


def run(args: argparse.Namespace) -> int:
    from movie_director.configdata import auth_by_kind
    from movie_director.discovery import DiscoveryRun

    config = _config_or_none()
    hosts, ports = list(args.hosts), list(args.ports)
    if config is not None:
        for service in config.enabled_services():
            hosts.append(service.host)
            ports.append(service.port)
    discovery = DiscoveryRun(
        [host for host in hosts if host],
        ports,
        timeout=args.timeout,
        allow_network=True,
        on_result=None if args.json else _print_row,
        on_capabilities=None if args.json else _print_capabilities,
        auth=auth_by_kind(config.services.values()) if config is not None else None,
    )
    results = discovery.run()
    if config is not None:
        _remember(config, results, [candidate.url for candidate in discovery.candidates])
    adopted = _adopt_all(results, args.as_instances, quiet=args.json) if args.adopt else {}
    if args.json:
        timings = {"scan_s": round(discovery.scan_elapsed, 3), "capabilities_s": round(discovery.capabilities_elapsed, 3)}
        print_json([{**result.to_row(), **timings, **({"adopted": adopted[result.url]} if result.url in adopted else {})} for result in results])
    else:
        known = sum(result.recognized for result in results)
        print(
            f"{known} service(s) and {len(results) - known} unknown port(s) found in {discovery.scan_elapsed:.2f} s "
            f"({len(discovery.ports)} ports on {', '.join(discovery.hosts)}); capabilities read in {discovery.capabilities_elapsed:.2f} s."
        )
    return 0


def _adopt_all(results: list[DiscoveryResult], as_instances: bool, quiet: bool) -> dict[str, dict[str, str]]:
    """Write each recognised result into the config file; what each became, by URL."""
    from movie_director.discovery import adopt

    adopted = {}
    for result in results:
        if not result.recognized:
            continue
        entry = adopt(result, as_instance=as_instances)
        adopted[result.url] = {"service": entry.name, "file": str(entry.path), "profile": entry.profile}
        if not quiet:
            print(f"  adopted {result.kind} at {result.url} as {entry.name!r} (profile {entry.profile}, {entry.path})")
    return adopted


def _print_row(result: DiscoveryResult) -> None:
    print(format_row(result), flush=True)


def _print_capabilities(result: DiscoveryResult) -> None:
    print(format_capabilities(result), flush=True)


def format_row(result: DiscoveryResult) -> str:
    """One named port as a line: kind, URL, version and latency, or what an unknown port showed."""
    if result.recognized:
        return f"✓ {result.kind:<10} {result.url:<28} {result.version or '-':<10} {result.latency_ms:6.1f} ms"
    return f"? {result.kind:<10} {result.url:<28} {result.seen}"


def format_capabilities(result: DiscoveryResult) -> str:
    """A named service's capabilities as a line under the rows: how many of each, or why none were read."""
    from movie_director.capabilities import summary

    if result.capabilities is None:
        said = result.details.get("capabilities_error") or "not read"
    else:
        said = ", ".join(f"{name}×{count}" for name, count in summary(result.capabilities).items()) or "none"
    return f"  {result.kind:<10} {result.url:<28} capabilities: {said}"


def _config_or_none() -> Config | None:
    from movie_director.config import load_config

    try:
        return load_config()
    except InvalidConfigError as error:
        print("Scanning without the configured services: the configuration is invalid.", file=sys.stderr)
        print_error(error)
        return None


def _remember(config: Config, results: list[DiscoveryResult], scanned: list[str]) -> None:
    """Record the results in the registry file the ``services`` command lists."""
    from movie_director.registry import open_registry, registry_path

    try:
        registry = open_registry(config)
    except InvalidConfigError as error:
        print("Not updating the service registry:", file=sys.stderr)
        print_error(error)
        return
    registry.record_discovery(results, scanned)
    registry.save(registry_path(config))
