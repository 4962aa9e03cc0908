"""Where commands are added to ``movie-director``: the built-in ones and the plugins' (``register_commands``).

An object of ours rather than argparse's private sub-parser action, as pytest hands its
plugins a ``Parser`` of its own: a command is a name, a help line, a handler and the
:class:`argparse.ArgumentParser` its arguments go on. Every parser made here gets the
global options (``-v``, ``-q``, ``--json``, ``--config``) once all commands exist.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

#: Runs a command: takes the parsed arguments, returns the exit code.
Handler = Callable[[argparse.Namespace], int]


class Commands:
    """The commands at one level of the CLI: the top level, or one command's sub-commands."""

    def __init__(self, parser: argparse.ArgumentParser, *, metavar: str = "COMMAND", made: list[argparse.ArgumentParser] | None = None) -> None:
        self._subparsers = parser.add_subparsers(metavar=metavar)
        self._made = made if made is not None else []

    def add(self, name: str, handler: Handler, *, help: str, description: str | None = None) -> argparse.ArgumentParser:  # noqa: A002 - argparse's word
        """A command running ``handler(args)``; add its arguments to the parser returned."""
        parser = self._parser(name, help, description)
        parser.set_defaults(handler=handler)
        return parser

    def group(self, name: str, *, help: str, description: str | None = None, metavar: str = "ACTION") -> Commands:  # noqa: A002
        """A command that only holds sub-commands (``config show``, ``llm chat``); alone, it prints its help, as
        ``movie-director`` alone does (exit 0)."""
        parser = self._parser(name, help, description)

        def show_help(args: argparse.Namespace) -> int:
            parser.print_help()
            return 0

        parser.set_defaults(handler=show_help)
        return Commands(parser, metavar=metavar, made=self._made)

    @property
    def parsers(self) -> list[argparse.ArgumentParser]:
        """Every command's parser made through this collection or its groups, in the order they were added."""
        return list(self._made)

    def _parser(self, name: str, help: str, description: str | None) -> argparse.ArgumentParser:  # noqa: A002
        parser: argparse.ArgumentParser = self._subparsers.add_parser(name, help=help, description=description)
        self._made.append(parser)
        return parser


__all__ = ["Commands", "Handler"]
