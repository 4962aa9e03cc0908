"""The built-in `litellm` backend plugin: LiteLLM proxies, and other OpenAI-compatible servers as `openai`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from movie_director.hookspecs import hookimpl

if TYPE_CHECKING:
    from movie_director.backend import Backend
    from movie_director.cli.commands import Commands
    from movie_director.operations import OperationExecutor


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    from movie_director_plugins.litellm.backend import LiteLLMBackend, OpenAICompatibleBackend  # here: loading the plugin must stay light

    register(LiteLLMBackend)
    register(OpenAICompatibleBackend)


@hookimpl
def register_operations(register: Callable[[str, OperationExecutor], None]) -> None:
    from movie_director_plugins.litellm.operations import CHAT, chat_operation  # here: loading the plugin must stay light

    register(CHAT, chat_operation)


@hookimpl
def register_commands(commands: Commands) -> None:
    from movie_director_plugins.litellm import cli

    cli.add_commands(commands)
