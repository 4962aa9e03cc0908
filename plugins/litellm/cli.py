"""``movie-director llm chat|models``: talk to the LiteLLM proxy from a shell, as the add-on does."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from movie_director.cli.arguments import add_target_options, add_timeout_option, text_or_stdin
from movie_director.cli.commands import Commands
from movie_director.cli.output import is_quiet, print_json, table
from movie_director.errors import InvalidConfigError, NotFound, WrongService
from movie_director.plugins import get_plugin_manager

if TYPE_CHECKING:
    from movie_director_plugins.litellm.client import ChatResult, LiteLLMClient

LLM_KINDS = ("litellm", "openai")
#: The services' default request timeout: a long answer may take this long.
ANSWER_TIMEOUT = 30.0
#: How long naming the server at a wrong --url may take.
IDENTIFY_TIMEOUT = 3.0


def add_commands(commands: Commands) -> None:
    llm = commands.group("llm", help="chat with a LiteLLM proxy (or an OpenAI-compatible server), list its models", metavar="COMMAND")

    chat = llm.add("chat", run_chat, help="send one prompt and print the answer", description="Exit 0 on an answer, 1 on an error.")
    chat.add_argument("prompt", type=text_or_stdin, help="the user message; - reads it from standard input")
    chat.add_argument("--model", action="append", metavar="M", help="model to use; repeat for a fallback order (default: the service's models)")
    chat.add_argument("--system", metavar="TEXT", help="a system message sent before the prompt")
    chat.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    _add_service_options(chat)

    models = llm.add("models", run_models, help="list the models the key may use")
    _add_service_options(models)


def _add_service_options(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser, "litellm", "http://127.0.0.1:4000")
    parser.add_argument("--kind", choices=LLM_KINDS, default="litellm", help="server kind for --url (default litellm)")
    add_timeout_option(parser, "the answer", ANSWER_TIMEOUT)


def _client(args: argparse.Namespace) -> LiteLLMClient:
    from movie_director.check import bounded, service_for

    manager = get_plugin_manager()
    service = bounded(service_for(args.url or args.service, args.kind, manager=manager), args.timeout)
    if service.kind not in LLM_KINDS:
        raise InvalidConfigError(
            f"The service {service.name!r} is a {service.kind} service, not an LLM server.",
            hints=["Name a litellm or openai service with --service, or give its address with --url."],
        )
    return manager.backend(service.kind).connect(service)


def _naming_a_wrong_server(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A 404 from a ``--url`` that is another kind of server (ComfyUI, Wan2GP…) says so, not "another API version"."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except NotFound as error:
            from movie_director.check import identify

            found = identify(args.url, min(args.timeout, IDENTIFY_TIMEOUT)) if args.url else None
            if found is None or found.kind in LLM_KINDS:
                raise
            name = getattr(get_plugin_manager().backends.get(found.kind), "display_name", "") or found.kind
            raise WrongService(
                f"Something answers at {args.url}, but it is {name}, not an LLM server.",
                service="LiteLLM",
                hints=["Give the LiteLLM proxy's address (default port 4000) with --url, or run `movie-director discover`."],
                details={"found": found.kind},
            ) from error

    return wrapper


@_naming_a_wrong_server
def run_chat(args: argparse.Namespace) -> int:
    from movie_director_plugins.litellm.client import as_messages

    messages = as_messages(args.prompt, args.system)
    first_token_ms = None
    with _client(args) as client:
        if args.stream:
            started = time.perf_counter()
            stream = client.stream_chat(messages, args.model)
            for delta in stream:
                first_token_ms = first_token_ms or (time.perf_counter() - started) * 1000
                if not args.json:
                    sys.stdout.write(delta)
                    sys.stdout.flush()
            result = stream.result()
            if not args.json:
                print()
        else:
            result = client.chat(messages, args.model)
            if not args.json:
                print(result.text)
    if args.json:
        print_json({**result.to_dict(), **({"time_to_first_token_ms": round(first_token_ms, 1)} if first_token_ms else {})})
    elif not is_quiet():
        print(summary(result), file=sys.stderr)
    return 0


def summary(result: ChatResult) -> str:
    """One line for people: which model answered, tokens, cost, and which models failed first."""
    usage = result.usage
    line = f"— {result.model} · {usage.prompt_tokens} in / {usage.completion_tokens} out tokens"
    if usage.cost_usd is not None:
        line += f" · est. ${usage.cost_usd:.6f}"
    if result.failed:
        line += f" (after {', '.join(attempt.model for attempt in result.failed)} failed)"
    return line


@_naming_a_wrong_server
def run_models(args: argparse.Namespace) -> int:
    with _client(args) as client:
        entries = client.models()
    if args.json:
        print_json([entry.to_dict() for entry in entries])
    else:
        rows = [[entry.id, entry.mode, str(entry.max_input_tokens or ""), str(entry.max_output_tokens or "")] for entry in entries]
        table(rows, ["MODEL", "MODE", "MAX IN", "MAX OUT"])
    return 0

