"""``movie-director plugins``: which backend plugins are installed, and which failed."""

from __future__ import annotations

import argparse

from movie_director.cli.commands import Commands
from movie_director.cli.output import print_json, table
from movie_director.plugins import get_plugin_manager


def add_commands(commands: Commands) -> None:
    commands.add("plugins", run, help="list installed backend plugins")


def run(args: argparse.Namespace) -> int:
    manager = get_plugin_manager()
    infos = [info.to_dict() for info in manager.plugins.values()]
    if args.json:
        print_json(infos)
        return 0
    rows = [
        [info["name"], ", ".join(info["backends"]) or "-", f"{info['distribution']} {info['version']}".strip(), "ok" if info["ok"] else "ERROR: " + info["error"]]
        for info in infos
    ]
    table(rows, ["plugin", "backends", "distribution", "status"])
    return 0
