"""``movie-director gradio endpoints URL`` and ``movie-director gradio call URL ENDPOINT key=value …``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from movie_director.cli.arguments import add_result_options, add_timeout_option, url_or_service
from movie_director.cli.commands import Commands
from movie_director.cli.exits import EXIT_INTERRUPTED
from movie_director.cli.output import ProgressPrinter, print_json, table, with_progress
from movie_director.errors import InvalidSetting

if TYPE_CHECKING:
    from movie_director_plugins.gradio.api import Endpoint, Parameter
    from movie_director_plugins.gradio.transport import CallResult

#: The wait of a command that only asks (no job): the services' default request timeout.
QUICK_TIMEOUT = 30.0


def add_commands(commands: Commands) -> None:
    actions = commands.group("gradio", help="list and call the endpoints of any Gradio app")
    endpoints = actions.add("endpoints", run_endpoints, help="the app's callable endpoints with their parameters")
    endpoints.add_argument("target", type=url_or_service, help="the app's URL (http://127.0.0.1:7865) or a configured service name")
    endpoints.add_argument("--all", action="store_true", help="include endpoints the app hides from its API page")
    add_timeout_option(endpoints, "the app's answer", QUICK_TIMEOUT)
    call = actions.add("call", run_call, help="call one endpoint by name with key=value arguments")
    call.add_argument("target", type=url_or_service, help="the app's URL or a configured service name")
    call.add_argument("endpoint", help="endpoint name, e.g. generate (see `gradio endpoints`)")
    call.add_argument("arguments", nargs="*", metavar="KEY=VALUE", help="values are JSON when they parse as JSON; files are local paths")
    add_result_options(call, "the result", timeout=600.0)


def _connection(target: str, timeout: float | None) -> Any:
    from movie_director.check import bounded, service_for
    from movie_director_plugins.gradio.backend import GradioConnection

    return GradioConnection(bounded(service_for(target, "gradio"), timeout))


def run_endpoints(args: argparse.Namespace) -> int:
    connection = _connection(args.target, args.timeout)
    try:
        app = connection.transport.app()
        listed = [e for e in app.endpoints.values() if args.all or e.documented]
    finally:
        connection.close()
    if args.json:
        print_json({"app": app.summary(), "endpoints": [e.to_dict() for e in listed]})
        return 0
    print(f"{app.title or 'Gradio app'} at {app.url} (Gradio {app.version}): {len(listed)} endpoint(s)")
    table([[f"/{e.api_name}", _signature(e)] for e in listed], ["endpoint", "parameters"])
    return 0


def _signature(endpoint: Endpoint) -> str:
    parts = []
    for parameter in endpoint.parameters:
        kind = "file" if parameter.file_shape else parameter.python_type or parameter.component
        parts.append(f"{parameter.name}: {kind}" + ("" if parameter.required else f" = {parameter.default!r}"))
    return ", ".join(parts) or "-"


def parse_arguments(endpoint: Endpoint, pairs: list[str]) -> dict[str, Any]:
    """``["steps=4", "prompt=a cat"]`` → typed keyword arguments for ``endpoint``."""
    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidSetting(
                f"{pair!r} is not KEY=VALUE.",
                hints=[f"Write arguments as name=value, e.g. {endpoint.parameters[0].name if endpoint.parameters else 'text'}=hello."],
                details={"field": pair, "value": pair, "allowed": "KEY=VALUE"},
            )
        arguments[key] = parse_value(endpoint.parameter(key), raw)
    return arguments


def parse_value(parameter: Parameter | None, raw: str) -> Any:
    """Strings stay strings for text and file parameters; other types are parsed."""
    from movie_director_plugins.gradio.api import coerce

    if parameter is not None and (parameter.file_shape or parameter.python_type in ("str", "filepath") or parameter.python_type.startswith("Literal[")):
        return raw
    if parameter is not None and parameter.python_type in ("int", "float", "bool"):
        return coerce(parameter, raw)
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def run_call(args: argparse.Namespace) -> int:
    connection = _connection(args.target, args.timeout)

    def work(printer: ProgressPrinter) -> CallResult:
        endpoint = connection.transport.app().endpoint(args.endpoint, service=connection.transport.label)
        return connection.call(endpoint.api_name, parse_arguments(endpoint, args.arguments), out_dir=args.out, on_progress=printer, timeout=args.timeout)

    result = with_progress(work, connection.close, "Interrupted: the call was cancelled on the server.")
    if result is None:
        return EXIT_INTERRUPTED
    if args.json:
        print_json(result.to_dict())
        return 0
    for path in result.files:
        print(path)
    data = result.data
    if not (isinstance(data, str) and data in map(str, result.files)):
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    return 0
