"""``movie-director comfyui run WORKFLOW.json``: queue, watch, download — Ctrl-C interrupts on the server.

Progress goes to stderr (a redrawn bar on a terminal, a line per node otherwise) so
that stdout carries only the output paths, or one JSON document with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from movie_director.cli.arguments import add_result_options, fail, positive_count, url_list
from movie_director.cli.commands import Commands
from movie_director.cli.output import REDRAW_INTERVAL, ProgressPrinter, exit_code, print_error, print_json
from movie_director.errors import InvalidConfigError, MovieDirectorError, OperationTimeout
from movie_director.progress import ProgressCallback

if TYPE_CHECKING:
    from movie_director.configdata import ServiceConfig
    from movie_director.fleet import Moved, RunOutcome
    from movie_director_plugins.comfyui.jobs import Job
    from movie_director_plugins.comfyui.workflow import Graph

CANCEL_WAIT = 10.0


def add_commands(commands: Commands) -> None:
    actions = commands.group("comfyui", help="run workflows on ComfyUI", description="Work with a ComfyUI server directly.", metavar="COMMAND")
    run = actions.add(
        "run",
        run_workflow,
        help="queue a workflow (API format), show its progress, download its outputs",
        description="Queue WORKFLOW on ComfyUI, show progress on stderr, write the outputs to --out and print their paths. "
        "Ctrl-C interrupts the job on the server; after --timeout it keeps running there. Exit 0 on success, 1 when the job fails or is cancelled, "
        "2 for a bad workflow or option, 3 when ComfyUI cannot be reached or stays silent, 130 on Ctrl-C.",
    )
    run.add_argument("workflow", help="workflow saved with Workflow → Export (API) in ComfyUI; - reads it from standard input")
    run.add_argument(
        "--url",
        type=url_list,
        action="extend",
        help="ComfyUI address; several (comma-separated or repeated) for --repeat (default: the configured comfyui service's instances)",
    )
    add_result_options(run, "the outputs", timeout=None)
    run.add_argument("--prompt-id", help="prompt id to use; running again with the same id never queues the job twice")
    run.add_argument("--no-validate", action="store_true", help="send without checking the nodes against the server's node list")
    run.add_argument(
        "--repeat",
        type=positive_count,
        metavar="N",
        help="run the workflow N times across the instances (each run its own filename_prefix suffix _rNN and seed + run - 1)",
    )


def run_workflow(args: argparse.Namespace) -> int:
    from movie_director.check import bounded
    from movie_director_plugins.comfyui.client import LABEL, ComfyUIClient
    from movie_director_plugins.comfyui.workflow import load_workflow

    started = time.monotonic()
    if args.repeat is not None and args.prompt_id is not None:
        fail("--prompt-id names one run; it cannot be combined with --repeat.", field="--prompt-id")
    graph = load_workflow(args.workflow, LABEL)  # a bad file is refused before any connection
    if args.repeat is not None:
        return run_batch(args, graph, started)
    with ComfyUIClient(bounded(_service(args.url[0] if args.url else None), args.timeout)) as client:
        job = client.submit(graph, prompt_id=args.prompt_id, validate=not args.no_validate)
        printer = ProgressPrinter()
        try:
            follow(job, printer, None if args.timeout is None else max(0.0, args.timeout - (time.monotonic() - started)))
        except KeyboardInterrupt:
            printer.finish()
            _interrupt(job)
            raise
        finally:
            printer.finish()
        files = job.outputs()
        paths = client.download(files, args.out)
    if args.json:
        print_json(
            {
                "ok": True,
                "prompt_id": job.prompt_id,
                "status": job.status.value,
                "outputs": [{"path": str(path), **file.to_dict()} for file, path in zip(files, paths)],
                "elapsed_s": round(time.monotonic() - started, 3),
            }
        )
    else:
        for path in paths:
            print(path)
    return 0


def follow(job: Job, on_progress: ProgressCallback, timeout: float | None) -> None:
    """Report the job's progress on every change until it ends; raise its error (or OperationTimeout)."""
    from movie_director_plugins.comfyui.client import LABEL

    deadline = None if timeout is None else time.monotonic() + timeout
    version = -1
    while not job.done:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        version = job.wait_for_change(version, REDRAW_INTERVAL if remaining is None else min(REDRAW_INTERVAL, remaining))
        on_progress(job.progress.as_progress())
    on_progress(job.progress.as_progress())
    if not job.done:
        raise OperationTimeout(
            f"The job {job.prompt_id} on {LABEL} did not finish within {timeout:.1f} s; it keeps running there.",
            service=LABEL,
            hints=["Raise --timeout, or follow the job in ComfyUI."],
            details={"prompt_id": job.prompt_id, "state": job.status.value},
        )
    job.wait(0)


def _interrupt(job: Job) -> None:
    from movie_director_plugins.comfyui.client import LABEL
    from movie_director_plugins.comfyui.jobs import JobState

    print(f"Interrupting job {job.prompt_id} on {LABEL}…", file=sys.stderr)
    try:
        job.cancel()
        job.wait(CANCEL_WAIT)
    except OperationTimeout:
        print(f"{LABEL} did not confirm the interrupt within {CANCEL_WAIT:g} s.", file=sys.stderr)
    except MovieDirectorError as error:
        if job.status is not JobState.CANCELLED:
            print_error(error)


def run_batch(args: argparse.Namespace, graph: Graph, started: float) -> int:
    """``--repeat N``: N distinct runs over the instances, one per instance at a time; one object per run."""
    from movie_director.check import bounded
    from movie_director.fleet import Fleet
    from movie_director_plugins.comfyui.batch import ComfyUIMember, distinct_runs, no_instance_can_run

    deadline = None if args.timeout is None else started + args.timeout
    members = [
        ComfyUIMember(bounded(service, args.timeout), args.out, validate=not args.no_validate, weight=weight, deadline=deadline)
        for service, weight in _instances(args.url)
    ]
    fleet = Fleet(members, unfit=no_instance_can_run, on_moved=_report_moved, on_skipped=_report_skipped, on_done=_report_done(args.repeat))
    try:
        outcomes = fleet.run(distinct_runs(graph, args.repeat))
    finally:
        for member in members:
            member.close()
    failures = [outcome.error for outcome in outcomes if outcome.error is not None]
    if args.json:
        print_json(
            {
                "ok": not failures,
                "runs": [_run_document(outcome) for outcome in outcomes],
                "instances": [member.url for member in members],
                "elapsed_s": round(time.monotonic() - started, 3),
            }
        )
    else:
        for outcome in outcomes:
            for _, path in outcome.result or ():
                print(path)
        for error in failures:
            print_error(error)
    return exit_code(failures[0]) if failures else 0


def _run_document(outcome: RunOutcome) -> dict[str, Any]:
    files = outcome.result or []
    document: dict[str, Any] = {
        "run": outcome.index + 1,
        "instance": outcome.instance,
        "prompt_id": outcome.ident,
        "status": "succeeded" if outcome.ok else "failed",
        "files": [str(path) for _, path in files],
        "outputs": [{"path": str(path), **file.to_dict()} for file, path in files],
        "elapsed_s": round(outcome.elapsed, 3),
    }
    if outcome.moved_from:
        document["moved_from"] = outcome.moved_from[-1].to_dict()  # the last instance it left; stderr names every move
    if outcome.error is not None:
        document["error"] = outcome.error.to_dict()
    return document


def _report_moved(outcome: RunOutcome, moved: Moved, reason: str) -> None:
    print(f"Run {outcome.index + 1}: {reason} before prompt {moved.ident} finished; running it on another instance.", file=sys.stderr)


def _report_skipped(instance: str, error: MovieDirectorError) -> None:
    print(f"Skipping {instance}: {error.message}", file=sys.stderr)


def _report_done(count: int) -> Callable[[RunOutcome], None]:
    done = 0

    def report(outcome: RunOutcome) -> None:
        nonlocal done
        done += 1
        state = "done" if outcome.ok else f"failed ({outcome.error.code if outcome.error else '?'})"
        where = f" on {outcome.instance}" if outcome.instance else ""
        print(f"[{done}/{count}] run {outcome.index + 1} {state}{where} in {outcome.elapsed:.1f} s", file=sys.stderr)

    return report


def _instances(urls: list[str] | None) -> list[tuple[ServiceConfig, float]]:
    """One service entry (and weight) per instance: the --url list, else the configured service's instances."""
    from movie_director.check import adhoc_service
    from movie_director.fleet import instance_services

    if urls:
        return [(adhoc_service(address, "comfyui"), 1.0) for address in dict.fromkeys(urls)]
    return instance_services(_service(None))


def _service(url: str | None) -> ServiceConfig:
    from movie_director.check import adhoc_service
    from movie_director.config import load_config

    if url:
        return adhoc_service(url, "comfyui")
    config = load_config()
    services = [service for service in config.enabled_services() if service.kind == "comfyui"]
    services.sort(key=lambda service: service.name != "comfyui")
    if not services:
        raise InvalidConfigError("No ComfyUI service is configured.", hints=["Pass --url http://127.0.0.1:8188, or add a comfyui service to your config file."])
    return services[0]


__all__ = ["add_commands", "follow", "run_batch", "run_workflow"]
