"""``movie-director completion bash|zsh``: the script that completes commands, options and paths.

Completion itself is argcomplete's (an optional dependency: ``pip install
"movie-director-connect[completion]"``); ``main()`` answers the shell's requests through it.
"""

from __future__ import annotations

import argparse
import os
from types import ModuleType

from movie_director.cli.arguments import fail
from movie_director.cli.commands import Commands

SHELLS = ("bash", "zsh")
PROG = "movie-director"


def add_commands(commands: Commands) -> None:
    parser = commands.add("completion", run,
        help="print the shell completion script (bash or zsh)",
        description=f'Enable completion with: eval "$({PROG} completion bash)" in ~/.bashrc, or the same with zsh in ~/.zshrc. '
        'Needs the optional package argcomplete: pip install "movie-director-connect[completion]".',
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    argcomplete = _argcomplete()
    if argcomplete is None:
        fail(
            "Shell completion needs the optional package argcomplete, which is not installed.",
            field="shell",
            value=args.shell,
            allowed='pip install "movie-director-connect[completion]"',
        )
    print(argcomplete.shellcode([PROG], shell=args.shell), end="")
    return 0


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a completing shell and exit, when one asks (argcomplete does nothing otherwise)."""
    if "_ARGCOMPLETE" not in os.environ:  # argcomplete's own test, made before paying for its import
        return
    argcomplete = _argcomplete()
    if argcomplete is not None:
        argcomplete.autocomplete(parser)


def _argcomplete() -> ModuleType | None:
    try:
        import argcomplete
    except ImportError:
        return None
    return argcomplete
