"""The built-in `litellm` backend plugin: LiteLLM proxies, and other OpenAI-compatible servers as `openai`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl
from movie_director.operations import register_operation
from movie_director_plugins.litellm import cli
from movie_director_plugins.litellm.backend import LiteLLMBackend, OpenAICompatibleBackend
from movie_director_plugins.litellm.operations import CHAT, chat_operation


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(LiteLLMBackend)
    register(OpenAICompatibleBackend)
    register_operation(CHAT, chat_operation, replace=True)


@hookimpl
def register_commands(subcommands: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    cli.add_parser(subcommands)
