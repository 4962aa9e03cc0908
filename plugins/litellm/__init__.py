"""The built-in `litellm` backend plugin: LiteLLM proxies, and other OpenAI-compatible servers as `openai`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from movie_director.backend import Backend
from movie_director.hookspecs import hookimpl
from movie_director.operations import OperationExecutor
from movie_director_plugins.litellm.backend import LiteLLMBackend, OpenAICompatibleBackend
from movie_director_plugins.litellm.operations import CHAT, chat_operation

if TYPE_CHECKING:
    from movie_director.cli.commands import Commands


@hookimpl
def register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(LiteLLMBackend)
    register(OpenAICompatibleBackend)


@hookimpl
def register_operations(register: Callable[[str, OperationExecutor], None]) -> None:
    register(CHAT, chat_operation)


@hookimpl
def register_commands(commands: Commands) -> None:
    from movie_director_plugins.litellm import cli

    cli.add_commands(commands)
