"""``movie-director config``: show the resolved configuration and validate files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from movie_director.cli.arguments import fail
from movie_director.cli.commands import Commands
from movie_director.cli.output import is_quiet, print_json, table
from movie_director.errors import InvalidConfigError

#: How long ``config init`` spends identifying each port it scans.
INIT_SCAN_TIMEOUT = 1.0

EXIT_INVALID = 2


def add_commands(commands: Commands) -> None:
    from movie_director.configfile import config_file_candidates

    actions = commands.group("config", help="show or validate the configuration")
    show = actions.add("show", run_show, help="the resolved configuration")
    show.add_argument("--sources", action="store_true", help="say which layer (env, file, ui, default) set every value")
    validate = actions.add("validate", run_validate, help="check a config file; exit 2 listing every problem")
    validate.add_argument("file")
    init = actions.add(
        "init",
        run_init,
        help="write a commented starter config: the services discover finds, or the defaults",
        description=f"Write FILE (default {config_file_candidates()[0]}) with one entry per service found on this computer "
        "(or every backend's default address when none answers), each setting explained in a comment. An existing file is kept unless --force.",
    )
    init.add_argument("file", nargs="?", help=f"where to write (default {config_file_candidates()[0]})")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.add_argument("--no-discover", action="store_true", help="write the defaults without scanning ports")


def run_show(args: argparse.Namespace) -> int:
    from movie_director.config import load_config

    config = load_config()
    if args.json:
        print_json(config.to_dict(with_sources=args.sources))
        return 0
    print(f"profile: {config.active_profile}" + (f"  [{config.profile_source}]" if args.sources else ""))
    print(f"config file: {config.file or 'none'}")
    for service in config.services.values():
        data = service.to_dict(with_sources=args.sources)
        sources = data.pop("sources", {})
        print(f"\n[{service.name}]")
        rows = [[key, _show(value), sources.get(key, "")] for key, value in data.items() if key != "name"]
        table(rows, ["key", "value", "source" if args.sources else ""])
    return 0


def _show(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_show_item(item) for item in value) or "-"
    return "-" if value is None else str(value)


def _show_item(item: object) -> str:
    """An instance as "url (weight 2)"; anything else as it prints."""
    if isinstance(item, dict) and "url" in item:
        return f"{item['url']} (weight {item.get('weight', 1):g})"
    return str(item)


def run_validate(args: argparse.Namespace) -> int:
    from movie_director.config import validate_file

    try:
        problems = validate_file(args.file)
    except InvalidConfigError as error:
        problems = error.problems
        if not problems:
            raise
    if args.json:
        print_json({"ok": not problems, "file": args.file, "valid": not problems, "problems": [problem.to_dict() for problem in problems]})
    elif problems:
        print(f"✗ {args.file}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  {problem.describe()}")
    else:
        print(f"✓ {args.file} is valid")
    return EXIT_INVALID if problems else 0


def run_init(args: argparse.Namespace) -> int:
    from movie_director.config import validate_file
    from movie_director.configdata import CONFIG_ENV
    from movie_director.configfile import config_file_candidates, write_atomic

    path = Path(args.file or config_file_candidates()[0]).expanduser().absolute()
    if path.exists() and not args.force:
        fail(f"{path} already exists; it was left as it is.", field="file", value=str(path), allowed="a new file, or --force")
    services = ([] if args.no_discover else _found_services()) or _default_services()
    text = starter_config(services)
    try:
        write_atomic(path, text)
    except OSError as exc:
        fail(f"{path} cannot be written: {exc.strerror or exc}.", field="file", value=str(path), allowed="a writable path")
    problems = validate_file(path)  # what we write must be what we accept
    if args.json:
        print_json({"ok": not problems, "file": str(path), "services": [dict(zip(("name", "kind", "url", "note"), service)) for service in services]})
    elif not is_quiet():
        print(f"✓ wrote {path} with {len(services)} service(s): {', '.join(name for name, *_ in services)}")
        if os.environ.get(CONFIG_ENV) and Path(os.environ[CONFIG_ENV]).expanduser().absolute() != path:
            print(f"  Note: {CONFIG_ENV} points at another file, which stays in force.")
    return EXIT_INVALID if problems else 0


def _found_services() -> list[tuple[str, str, str, str]]:
    """(name, kind, url, note) of every recognised service on this computer's default ports."""
    from movie_director.discovery import DiscoveryRun
    from movie_director.registry import service_name

    results = DiscoveryRun(timeout=INIT_SCAN_TIMEOUT, with_capabilities=False).run()
    taken: set[str] = set()
    found = []
    for result in sorted((result for result in results if result.recognized), key=lambda result: (result.kind, result.url)):
        name = service_name(result.kind, result.url, taken)
        taken.add(name)
        found.append((name, result.kind, result.url, f"found by discover: {' '.join(filter(None, (result.kind, result.version)))}"))
    return found


def _default_services() -> list[tuple[str, str, str, str]]:
    from movie_director.plugins import get_plugin_manager

    backends = get_plugin_manager().backends
    return [(kind, kind, backend.default_url, "default address") for kind, backend in sorted(backends.items()) if getattr(backend, "default_url", "")]


def starter_config(services: list[tuple[str, str, str, str]]) -> str:
    """The YAML of ``config init``: every service with its settings shown, commented, at their defaults."""
    from movie_director.configdata import SERVICE_DEFAULTS

    lines = [
        "# Movie Director Connect: where the AI backends run and how long to wait for them.",
        "# Written by `movie-director config init`. Check it with `movie-director config validate FILE`;",
        "# `movie-director config show --sources` shows every value in force and what set it.",
        "# Keys left commented keep their default. Reference: docs/cli.md.",
        "version: 1",
        "",
        "services:",
    ]
    for name, kind, url, note in services:
        lines += [
            f"  {name}:",
            f"    kind: {kind}",
            f"    url: {url}  # {note}",
            "    # enabled: true",
            f"    # timeout: {SERVICE_DEFAULTS['timeout']:g}  # seconds to wait for an answer",
            f"    # connect_timeout: {SERVICE_DEFAULTS['connect_timeout']:g}  # seconds to wait for the connection itself",
            f"    # retries: {SERVICE_DEFAULTS['retries']}  # retries of safe requests, with backoff",
            f"    # health_interval: {SERVICE_DEFAULTS['health_interval']:g}  # seconds between health checks",
            "    # auth:",
            f"    #   env: {name.upper().replace('-', '_')}_API_KEY  # the variable holding the key (never the key itself)",
            "",
        ]
    lines += [
        "# Profiles switch many settings at once (Local, Remote, Development, Production):",
        "# active_profile: Local",
        "# Where the queue and the health history are kept (or set MOVIE_DIRECTOR_DATA_DIR):",
        "# data_dir: ~/.local/share/movie-director",
    ]
    return "\n".join(lines) + "\n"
