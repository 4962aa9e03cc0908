"""``movie-director wan2gp generate --prompt TEXT …`` and ``movie-director wan2gp models``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, cast

from movie_director.cli.arguments import add_result_options, add_target_options, add_timeout_option, image_file, input_file, text_or_stdin
from movie_director.cli.commands import Commands
from movie_director.cli.exits import EXIT_INTERRUPTED
from movie_director.cli.output import print_json, with_progress
from movie_director.errors import InvalidSetting
from movie_director.plugins import get_plugin_manager
from movie_director_plugins.gradio.cli import QUICK_TIMEOUT
from movie_director_plugins.gradio.cli import parse_value as _parse_value

if TYPE_CHECKING:
    from movie_director.configdata import ServiceConfig
    from movie_director.routing import InstanceLoad
    from movie_director_plugins.wan2gp.settings import Wan2GPSettings, Wan2GPTransport

#: Health metrics that count the jobs waiting on an instance: the web UI's Gradio queue, the headless server's jobs.
QUEUE_METRICS = ("queue_size", "active_jobs", "queue_depth")


def add_commands(commands: Commands) -> None:
    actions = commands.group("wan2gp", help="generate videos with Wan2GP (web UI or headless)")
    generate = actions.add("generate", run_generate, help="one video; Ctrl-C aborts it on the server")
    generate.add_argument("--prompt", required=True, type=text_or_stdin, help="what the video shows; - reads it from standard input")
    generate.add_argument("--negative-prompt", default="", help="what it must not show")
    generate.add_argument("--model", help="model name (see `wan2gp models`); default: the one Wan2GP has loaded")
    generate.add_argument("--resolution", default="832x480", help="WIDTHxHEIGHT, one of the model's (default 832x480)")
    generate.add_argument("--frames", type=int, default=81, help="video length in frames, 5–257 (default 81)")
    generate.add_argument("--seed", type=int, default=-1, help="-1 for random (default)")
    generate.add_argument("--steps", type=int, default=30, help="inference steps, 1–150 (default 30)")
    generate.add_argument("--guidance", type=float, default=5.0, help="guidance scale (default 5.0)")
    generate.add_argument("--image", type=image_file, help="start image")
    generate.add_argument("--end-image", type=image_file, help="end image")
    generate.add_argument("--ref-image", type=image_file, action="append", default=[], help="reference image (repeatable)")
    generate.add_argument("--video-guide", type=input_file, help="control video")
    generate.add_argument("--audio-guide", type=input_file, help="audio to follow")
    generate.add_argument("--set", dest="extra", action="append", default=[], metavar="NAME=VALUE", help="any other Wan2GP setting by its save_inputs name")
    _target_arguments(generate)
    add_result_options(generate, "the video", timeout=3600.0)
    models = actions.add("models", run_models, help="the models this Wan2GP offers")
    _target_arguments(models)
    add_timeout_option(models, "the list", QUICK_TIMEOUT)


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser, "wan2gp", "http://127.0.0.1:7860")
    parser.add_argument("--transport", choices=("auto", "webui", "mcp"), help="web UI or headless MCP (default: the service's, auto)")


def connect(args: argparse.Namespace) -> Wan2GPTransport:
    from movie_director.check import bounded, service_for
    from movie_director.fleet import instance_services
    from movie_director_plugins.wan2gp.settings import Wan2GPTransport

    overrides = {"transport": args.transport} if args.transport else {}
    service = bounded(service_for(args.url or args.service, "wan2gp", **overrides), args.timeout)
    instances = instance_services(service)
    if len(instances) > 1:
        return least_loaded(instances)
    return cast(Wan2GPTransport, get_plugin_manager().backend("wan2gp").connect(service))  # the wan2gp kind connects so


class _Candidate:
    """One Wan2GP instance, connected and asked for its health to rank it."""

    def __init__(self, service: ServiceConfig, weight: float) -> None:
        self.url = service.url
        self.service = service
        self.weight = weight
        self.transport: Wan2GPTransport | None = None

    def load(self) -> InstanceLoad:
        from movie_director.routing import InstanceLoad

        self.transport = cast("Wan2GPTransport", get_plugin_manager().backend("wan2gp").connect(self.service))
        sample = self.transport.health()  # raises our typed error when the instance is down
        queue = next((int(sample.metrics[key]) for key in QUEUE_METRICS if key in sample.metrics), None)
        return InstanceLoad(url=self.url, ready=sample.ok, backend_queue=queue, in_flight=0, latency_ms=sample.latency_ms, weight=self.weight)


def least_loaded(instances: list[tuple[ServiceConfig, float]]) -> Wan2GPTransport:
    """The transport of the ready instance with the shortest queue (``routing.pick``); the others are closed."""
    from movie_director.errors import ServiceError
    from movie_director.fleet import probe_all
    from movie_director.routing import pick

    candidates = [_Candidate(service, weight) for service, weight in instances]
    loads, down = probe_all(candidates)
    chosen = pick(list(loads.values()))
    for candidate in candidates:
        if candidate.transport is not None and (chosen is None or candidate.url != chosen.url):
            candidate.transport.close()
    if chosen is None:
        if down:
            raise next(iter(down.values()))
        raise ServiceError(f"No Wan2GP instance is ready (checked {', '.join(loads)}).", service="Wan2GP", hints=["Run `movie-director services` to see their state."])
    for url, error in down.items():
        print(f"Skipping {url}: {error.message}", file=sys.stderr)
    print(f"Generating on {chosen.url}, the least loaded of {len(candidates)} instances.", file=sys.stderr)
    transport = next(candidate.transport for candidate in candidates if candidate.url == chosen.url)
    assert transport is not None
    return transport


def settings_from(args: argparse.Namespace) -> Wan2GPSettings:
    from movie_director_plugins.wan2gp.settings import Wan2GPSettings

    return Wan2GPSettings(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        resolution=args.resolution,
        video_length=args.frames,
        seed=args.seed,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        model=args.model,
        image_start=args.image,
        image_end=args.end_image,
        image_refs=list(args.ref_image),
        video_guide=args.video_guide,
        audio_guide=args.audio_guide,
        extra=_extra(args.extra),
    )


def _extra(pairs: list[str]) -> dict[str, Any]:
    extra = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise InvalidSetting(f"--set {pair!r} is not NAME=VALUE.", details={"field": "--set", "value": pair, "allowed": "NAME=VALUE"})
        extra[name] = _parse_value(None, raw)
    return extra


def run_generate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    settings.validate()  # the range errors come before any connection
    transport = connect(args)
    result = with_progress(
        lambda printer: transport.generate(settings, args.out, on_progress=printer, timeout=args.timeout),
        transport.close,
        "Aborted: Wan2GP was told to stop the generation.",
    )
    if result is None:
        return EXIT_INTERRUPTED
    if args.json:
        print_json(result.to_dict())
    else:
        for path in result.files:
            print(path)
    return 0


def run_models(args: argparse.Namespace) -> int:
    transport = connect(args)
    try:
        models = transport.models()
    finally:
        transport.close()
    if args.json:
        print_json({"transport": transport.name, "models": models})
    else:
        print("\n".join(models) or "(Wan2GP lists no models)")
    return 0
