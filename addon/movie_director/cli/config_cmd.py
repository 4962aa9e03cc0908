"""``movie-director config``: show the resolved configuration and validate files."""

from __future__ import annotations

import argparse

from movie_director.cli.output import print_json, table
from movie_director.config import load_config, validate_file
from movie_director.errors import ConfigError

EXIT_INVALID = 2


def add_parser(subcommands: argparse._SubParsersAction) -> None:  # noqa: SLF001
    parser = subcommands.add_parser("config", help="show or validate the configuration")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="the resolved configuration")
    show.add_argument("--sources", action="store_true", help="say which layer (env, file, ui, default) set every value")
    show.set_defaults(handler=run_show)
    validate = actions.add_parser("validate", help="check a config file; exit 2 listing every problem")
    validate.add_argument("file")
    validate.set_defaults(handler=run_validate)


def run_show(args: argparse.Namespace) -> int:
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
        return ", ".join(map(str, value)) or "-"
    return "-" if value is None else str(value)


def run_validate(args: argparse.Namespace) -> int:
    try:
        problems = validate_file(args.file)
    except ConfigError as error:
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
