"""``movie-director services``: the registered services, their instances, status and capabilities."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from movie_director.cli.arguments import add_timeout_option
from movie_director.cli.commands import Commands
from movie_director.cli.output import print_json, table
from movie_director.plugins import get_plugin_manager

if TYPE_CHECKING:
    from movie_director.backend import Status
    from movie_director.check import CheckReport
    from movie_director.configdata import Config
    from movie_director.registry import Instance, Registry

CHECK_WORKERS = 8
CHECK_TIMEOUT = 3.0


def add_commands(commands: Commands) -> None:
    parser = commands.add("services", run,
        help="list registered services: instances, status, capabilities",
        description=(
            "List the configured services and those found by `movie-director discover`, check each one now "
            "(status, latency, queue, capabilities) and remember the result. Exit 0."
        ),
    )
    add_timeout_option(parser, "each service's check", CHECK_TIMEOUT, whole_command=False)
    parser.add_argument("--no-check", action="store_true", help="list what is registered without contacting the services")


def run(args: argparse.Namespace) -> int:
    from movie_director.config import load_config
    from movie_director.registry import open_registry, registry_path

    config = load_config()
    registry = open_registry(config)
    errors: dict[str, str] = {}
    if not args.no_check:
        errors = _check_all(registry, config, args.timeout)
        registry.save(registry_path(config))
    manager = get_plugin_manager()
    grouped = registry.services()
    if args.json:
        print_json([
            {
                "kind": kind,
                "display_name": getattr(manager.backends.get(kind), "display_name", "") or kind,
                "instances": [{**instance.to_dict(), "error": errors.get(instance.name)} for instance in instances],
            }
            for kind, instances in grouped.items()
        ])
        return 0
    if not grouped:
        print("No services are registered. Run `movie-director discover`, or add services to the config file.")
        return 0
    for kind, instances in grouped.items():
        backend = manager.backends.get(kind)
        print(f"{getattr(backend, 'display_name', '') or kind} ({kind})")
        table([_row(instance) for instance in instances], ["  name", "url", "status", "latency", "queue", "version", "capabilities"])
        for instance in instances:
            if instance.name in errors:
                print(f"  ✗ {instance.name}: {errors[instance.name]}")
        print()
    return 0


def _row(instance: Instance) -> list[str]:
    from movie_director.capabilities import summary

    latency = "-" if instance.latency_ms is None else f"{instance.latency_ms:.0f} ms"
    capabilities = ", ".join(f"{name}×{count}" for name, count in summary(instance.capabilities).items()) or "-"
    return [f"  {instance.name}", instance.url, instance.status.value, latency, str(instance.queue_depth), instance.version or "-", capabilities]


def _check_all(registry: Registry, config: Config, timeout: float) -> dict[str, str]:
    """Check every instance at once (bounded); feed status, load and capabilities to the registry."""
    from movie_director.check import check_service

    instances = registry.instances()
    with ThreadPoolExecutor(max_workers=CHECK_WORKERS, thread_name_prefix="md-services") as pool:
        reports = list(pool.map(lambda instance: check_service(instance.name, kind=instance.kind, timeout=timeout, config=config), instances))
    errors = {}
    for instance, report in zip(instances, reports):
        status, queue_depth, latency = _health_of(report)
        registry.update_health(instance.name, status, queue_depth, latency)
        if report.ok:
            registry.set_capabilities(instance.name, report.capabilities, report.probe.version if report.probe else None)
        if report.error is not None:
            errors[instance.name] = report.error.message
    return errors


def _health_of(report: CheckReport) -> tuple[Status, int, Any]:
    from movie_director.backend import Status

    if not report.ok:
        return Status.OFFLINE, 0, None
    health = report.health
    if health is None:
        return Status.DEGRADED, 0, report.probe.latency_ms if report.probe else None
    status = Status.ONLINE if health.ok else Status.DEGRADED
    return status, int(health.metrics.get("queue_depth", 0)), health.latency_ms
