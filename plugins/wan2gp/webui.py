"""Drive Wan2GP's own web UI (Gradio 5.29) the way its Generate button does.

Wan2GP publishes no API names of its own: every event is named after its function with
``_N`` suffixes that shift whenever the UI changes. So we read the chain from ``/config``:
the click whose ``.then()`` chain runs ``save_inputs`` → ``process_prompt_and_add_tasks``
→ ``process_tasks``, and call its steps in that order in one Gradio session (the hidden
``gr.State`` holding the form and the queue lives in the session). The settings go to
``save_inputs`` by parameter name; every other parameter keeps the server's default.

When the running Wan2GP lacks what this code needs, we refuse with
:class:`UnsupportedVersion` naming what is missing and pointing at the headless mode.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from movie_director.backend import Capability, HealthSample, ProbeResult
from movie_director.configdata import ServiceConfig
from movie_director.errors import Fix, JobCancelled, JobFailed, MovieDirectorError, UnsupportedVersion
from movie_director.progress import Phase, Progress, ProgressCallback, notify
from movie_director_plugins.gradio.api import AppInfo, Endpoint, base_name
from movie_director_plugins.gradio.backend import probe_config
from movie_director_plugins.gradio.transport import GradioSession, GradioTransport
from movie_director_plugins.wan2gp.backend import START_HINT
from movie_director_plugins.wan2gp.settings import DEFAULT_LIMITS, SERVICE, GenerationResult, Wan2GPSettings, video_capabilities

log = logging.getLogger(__name__)

NAME = "webui"
#: Base names only Wan2GP's UI has; two of them tell it from any other Gradio app.
MARKERS = frozenset({"save_inputs", "process_tasks", "abort_generation", "process_prompt_and_add_tasks", "init_generate", "finalize_generation"})
#: The steps of the Generate chain we cannot do without, in the order they must run.
REQUIRED_STEPS = ("save_inputs", "process_prompt_and_add_tasks", "process_tasks")
DEFAULT_GENERATE_TIMEOUT = 3600.0
STEP_TIMEOUT = 120.0  # one form step (validate, save…) never takes minutes
ABORT_GRACE = 15.0  # after the UI's abort, how long the task may take to stop before Gradio's cancel
HEADLESS_HINT = "Run Wan2GP headless instead (python wgp.py --mcp --mcp-transport streamable-http --mcp-port 8765) and set transport: mcp."
_VERSION = re.compile(r"WanGP v(\d+(?:\.\d+)*)")
_TAG = re.compile(r"<[^>]*>")


def looks_like_wan2gp(config: Mapping[str, Any]) -> bool:
    """Wan2GP's UI by its events (not its port): at least two of :data:`MARKERS`."""
    names = {base_name(d["api_name"]) for d in config.get("dependencies", ()) if isinstance(d.get("api_name"), str)}
    return len(names & MARKERS) >= 2


def wan2gp_version(config: Mapping[str, Any]) -> str:
    """"12.60" from the UI's title block (``Wan<SUP>GP</SUP> v12.60`` on the real one), or "" when it does not say."""
    for component in config.get("components", ()):
        value = (component.get("props") or {}).get("value")
        if isinstance(value, str) and "GP" in value:
            match = _VERSION.search(_TAG.sub("", value))
            if match:
                return match.group(1)
    return ""


def probe(url: str, timeout: float) -> ProbeResult | None:
    """A Wan2GP web UI at ``url``, or None (another Gradio app, or not Gradio at all)."""
    found = probe_config(url, timeout, label=SERVICE, start_hint=START_HINT)
    if found is None or not looks_like_wan2gp(found[0]):
        return None
    config, latency = found
    details = {
        "gradio_version": config.get("version", ""),
        "title": config.get("title", ""),
        "events": len(config.get("dependencies", ())),
        "components": len(config.get("components", ())),
    }
    return ProbeResult(kind="wan2gp", url=url.rstrip("/"), version=wan2gp_version(config), latency_ms=latency, details=details, transport=NAME)


def connect(service: ServiceConfig) -> WebUITransport:
    return WebUITransport(service)


@dataclass(frozen=True)
class GenerateChain:
    """The Generate button's event chain and the side events we need, found in ``/config``."""

    steps: tuple[Endpoint, ...]
    save_inputs: Endpoint
    add_tasks: Endpoint
    process: Endpoint
    finalize: Endpoint | None
    change_model: Endpoint | None
    status: Endpoint | None
    abort: Endpoint | None
    clear_queue: Endpoint | None

    @property
    def endpoints(self) -> list[Endpoint]:
        extra = (self.change_model, self.status, self.abort, self.clear_queue)
        return [*self.steps, *(e for e in extra if e is not None and e not in self.steps)]

    def models(self) -> list[str]:
        parameter = self.add_tasks.parameter("model_choice")
        return [str(choice) for choice in parameter.choices or ()] if parameter is not None else []

    def default_model(self, app: AppInfo) -> str | None:
        """What a fresh session has loaded: the Model dropdown's value, else its first choice."""
        parameter = self.add_tasks.parameter("model_choice")
        if parameter is None:
            return None
        if parameter.default:
            return str(parameter.default)
        value = (app.component(parameter.component_id).get("props") or {}).get("value") if parameter.component_id is not None else None
        if value:
            return str(value)
        models = self.models()
        return models[0] if models else None


def find_chain(app: AppInfo) -> GenerateChain:
    """Read the Generate chain from ``/config``; UnsupportedVersion names what is missing.

    On the real UI the Generate click only runs ``init_generate``, which writes a hidden
    textbox; that textbox's ``change`` event starts the ``.then()`` chain that queues and
    runs the task. So from each step we follow its ``.then()`` children and the ``change``
    events of the components it writes. "Add New Prompt To Queue" reaches
    ``process_prompt_and_add_tasks`` the same way but never ``process_tasks``: refused.
    """
    graph = _EventGraph(app.config.get("dependencies", ()))
    chains = []
    for root in graph.click_roots():
        chain = graph.path_to_runner(root)
        if chain is None:
            continue
        names = [_base(d) for d in chain]
        if "process_prompt_and_add_tasks" in names:
            chains.append((chain, names))
    if not chains:
        raise _unsupported(app, ["the Generate button's event chain (process_prompt_and_add_tasks → process_tasks)"])
    # The Generate button is the click whose first step is init_generate (post-processing
    # buttons reuse the same chain through their own first step).
    chain, names = max(chains, key=lambda found: (found[1][0] == "init_generate", "save_inputs" in found[1], -len(found[0])))
    missing = [step for step in REQUIRED_STEPS if step not in names]
    if missing:
        raise _unsupported(app, [f"the {step} event" for step in missing])
    positions = [names.index(step) for step in REQUIRED_STEPS]
    if positions != sorted(positions):
        raise _unsupported(app, ["the Generate chain in the order save_inputs → process_prompt_and_add_tasks → process_tasks"])
    steps = []
    for dependency, name in zip(chain, names, strict=True):
        endpoint = app.by_fn_index(dependency.get("id", -1))
        if endpoint is None:
            raise _unsupported(app, [f"an API name for the {name or 'unnamed'} step of the Generate chain"])
        steps.append(endpoint)
    by_name = dict(zip(names, steps, strict=True))
    add_tasks = by_name["process_prompt_and_add_tasks"]
    return GenerateChain(
        steps=tuple(steps),
        save_inputs=by_name["save_inputs"],
        add_tasks=add_tasks,
        process=by_name["process_tasks"],
        finalize=by_name.get("finalize_generation"),
        change_model=_change_handler(app, add_tasks),
        status=_status_stream(app, steps),
        abort=_abort_endpoint(app),
        clear_queue=next((e for e in app.endpoints.values() if "clear_queue" in e.base_name and not e.parameters), None),
    )


def _base(dependency: Mapping[str, Any]) -> str:
    return base_name(dependency["api_name"]) if isinstance(dependency.get("api_name"), str) else ""


class _EventGraph:
    """Which event runs after which: ``.then()`` links and "writes a component whose change fires"."""

    def __init__(self, dependencies: Iterable[Mapping[str, Any]]) -> None:
        self.dependencies = list(dependencies)
        self._then: dict[Any, list[Mapping[str, Any]]] = {}  # by dependency id, looked up with what a dependency names
        self._on_change: dict[Any, list[Mapping[str, Any]]] = {}
        for dependency in self.dependencies:
            if dependency.get("trigger_after") is not None:
                self._then.setdefault(dependency["trigger_after"], []).append(dependency)
            for target in dependency.get("targets", ()):
                if target and target[0] is not None and target[1] == "change":
                    self._on_change.setdefault(target[0], []).append(dependency)

    def click_roots(self) -> list[Mapping[str, Any]]:
        return [d for d in self.dependencies if d.get("trigger_after") is None and any(t and t[1] == "click" for t in d.get("targets", ()))]

    def next_steps(self, dependency: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Its ``.then()`` children first, then the change events of what it writes."""
        written = [self._on_change.get(cid, []) for cid in dependency.get("outputs", ())]
        return [*self._then.get(dependency.get("id"), []), *(d for listeners in written for d in listeners)]

    def path_to_runner(self, root: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
        """The shortest event path from ``root`` to ``process_tasks``, followed by the
        ``.then()`` steps after it (``finalize_generation`` …); None when it never runs tasks."""
        paths: list[list[Mapping[str, Any]]] = [[root]]
        seen = {root.get("id")}
        while paths:  # breadth first: bounded by the number of events (each is visited once)
            path = paths.pop(0)
            if _base(path[-1]) == "process_tasks":
                return path + self._then_chain(path[-1], seen)
            for step in self.next_steps(path[-1]):
                if step.get("id") not in seen:
                    seen.add(step.get("id"))
                    paths.append([*path, step])
        return None

    def _then_chain(self, dependency: Mapping[str, Any], seen: set[Any]) -> list[Mapping[str, Any]]:
        chain, current = [], dependency
        while (children := [c for c in self._then.get(current.get("id"), []) if c.get("id") not in seen]):
            current = children[0]
            seen.add(current.get("id"))
            chain.append(current)
        return chain


def _change_handler(app: AppInfo, add_tasks: Endpoint) -> Endpoint | None:
    """The event the Model dropdown fires on change (what a browser runs when a model is picked)."""
    parameter = add_tasks.parameter("model_choice")
    if parameter is None or parameter.component_id is None:
        return None
    for dependency in app.config.get("dependencies", ()):
        if [parameter.component_id, "change"] in [list(t) for t in dependency.get("targets", ())]:
            endpoint = app.by_fn_index(dependency.get("id", -1))
            if endpoint is not None and endpoint.parameters:
                return endpoint
    return None


def _status_stream(app: AppInfo, steps: list[Endpoint]) -> Endpoint | None:
    """The generator a step's output change starts: Wan2GP's status text ("Loading model …")."""
    outputs = {cid for step in steps for cid in app.dependency(step.fn_index).get("outputs", ())}
    for dependency in app.config.get("dependencies", ()):
        triggers = {t[0] for t in dependency.get("targets", ()) if t and t[1] == "change"}
        if triggers & outputs and (dependency.get("types") or {}).get("generator"):
            endpoint = app.by_fn_index(dependency.get("id", -1))
            if endpoint is not None and not endpoint.parameters:
                return endpoint
    return None


def _abort_endpoint(app: AppInfo) -> Endpoint | None:
    """The Abort button's event of the session (the variant without a client id)."""
    candidates = app.by_base_name("abort_generation")
    return min(candidates, key=lambda e: len(e.parameters), default=None)


def _unsupported(app: AppInfo, missing: list[str]) -> UnsupportedVersion:
    version = wan2gp_version(app.config) or "this version"
    return UnsupportedVersion(
        f"The Wan2GP web UI at {app.url} ({version}) lacks {', '.join(missing)}, so the add-on cannot drive it.",
        service=SERVICE,
        hints=[HEADLESS_HINT, "Or update Wan2GP to a version whose web UI the add-on supports (12.60 is known to work)."],
        fix=Fix("Use Wan2GP's headless mode", "transport", "mcp", "movie-director wan2gp generate --transport mcp …"),
        details={"missing": missing, "url": app.url},
    )


def _check_names(app: AppInfo, chain: GenerateChain, values: Mapping[str, Any]) -> None:
    """Refuse when save_inputs does not take a setting we send (a renamed parameter)."""
    missing = [name for name in values if chain.save_inputs.parameter(name) is None]
    if chain.add_tasks.parameter("model_choice") is None:
        missing.append("model_choice (of process_prompt_and_add_tasks)")
    if missing:
        raise _unsupported(app, [f"the save_inputs parameter(s) {', '.join(missing)}"])


def _arguments(app: AppInfo, endpoint: Endpoint, context: Mapping[str, Any]) -> dict[str, Any]:
    """Our values by parameter name; a required one we have no value for gets what its
    component holds in ``/config`` (what a fresh browser page would send), else an empty one.

    Everything else is left out, so gradio_client sends the server's own default (for
    12.60's ``init_generate``: input_file_list=[], last_choice=-1, audio_files_paths="[]"…).
    """
    arguments: dict[str, Any] = {}
    for parameter in endpoint.parameters:
        if parameter.name in context:
            arguments[parameter.name] = context[parameter.name]
        elif parameter.required:
            shown = (app.component(parameter.component_id).get("props") or {}).get("value") if parameter.component_id is not None else None
            arguments[parameter.name] = shown if shown is not None else "" if parameter.component in ("Textbox", "Text") else None
    return arguments


class WebUITransport:
    """The ``wan2gp`` backend's web-UI transport (see the module doc)."""

    name: ClassVar[str] = NAME

    def __init__(self, service: ServiceConfig) -> None:
        self.service = service
        self.gradio = GradioTransport(service, label=SERVICE, start_hint=START_HINT)
        self._active: dict[str, tuple[GradioSession, GenerateChain]] = {}
        self._aborted: set[str] = set()
        self._lock = threading.Lock()

    def chain(self) -> GenerateChain:
        return find_chain(self.gradio.app())

    def models(self) -> list[str]:
        return self.chain().models()

    def health(self) -> HealthSample:
        latency, metrics, version = self.gradio.health()
        return HealthSample(ok=True, latency_ms=latency, metrics=metrics, version=wan2gp_version(self.gradio.app(check=False).config) or version)

    def capabilities(self) -> list[Capability]:
        chain = self.chain()
        resolution = chain.save_inputs.parameter("resolution")
        return video_capabilities(chain.models(), {"transport": NAME, "resolutions": list(resolution.choices or ()) if resolution else []})

    def generate(
        self,
        settings: Wan2GPSettings,
        out_dir: Path,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> GenerationResult:
        """Run the UI's Generate chain once; the video(s) land in ``out_dir``."""
        started = time.monotonic()
        deadline = started + (timeout or DEFAULT_GENERATE_TIMEOUT)
        notify(on_progress, Progress(Phase.CONNECTING, message="reading the Wan2GP web UI"))
        app = self.gradio.app()
        chain = find_chain(app)
        settings.validate(limits=self._limits(chain), choices=self._choices(chain), known_names=chain.save_inputs.parameter_names)
        job_id = uuid.uuid4().hex
        values = {**settings.to_save_inputs()}
        if chain.save_inputs.parameter("client_id") is not None:
            values.setdefault("client_id", job_id)  # lets abort_generation(client_id) find this task too
        _check_names(app, chain, values)
        model = settings.model or chain.default_model(app)
        context = {**values, "model_choice": model, "wizard_prompt_activated": "off"}
        session = self.gradio.open_session(chain.endpoints, app)
        with self._lock:
            self._active[job_id] = (session, chain)
        try:
            final = self._run_chain(session, chain, context, settings.model is not None, deadline, on_progress, job_id)
            data, copied = self.gradio.fetch_files(final, Path(out_dir), on_progress) if final is not None else (None, [])
            if not copied:
                raise JobFailed(
                    "Wan2GP finished without producing a video.",
                    service=SERVICE,
                    hints=["Look at Wan2GP's console window for the reason.", *JobFailed.default_hints],
                    details={"outputs": repr(data)[:500]},
                )
        except KeyboardInterrupt:
            self._abort_session(session, chain, job_id)
            raise
        finally:
            with self._lock:
                self._active.pop(job_id, None)
                self._aborted.discard(job_id)
            session.close()
        notify(on_progress, Progress(Phase.DONE, fraction=1.0))
        sent = {**values, "model_choice": model}
        return GenerationResult(
            files=tuple(copied),
            transport=NAME,
            elapsed_s=time.monotonic() - started,
            sent=sent,
            details={"session_hash": session.session_hash, "job_id": job_id, "gradio_version": app.version},
        )

    def _run_chain(
        self,
        session: GradioSession,
        chain: GenerateChain,
        context: dict[str, Any],
        change_model: bool,
        deadline: float,
        on_progress: ProgressCallback | None,
        job_id: str,
    ) -> Any:
        """Every step in the UI's order; returns what ``finalize_generation`` (or else the last
        step) returned: the session's gallery, holding this job's video(s)."""

        def step_deadline() -> float:
            return min(deadline, time.monotonic() + STEP_TIMEOUT)

        def stop_if_aborted() -> None:
            if job_id in self._aborted:
                raise JobCancelled("The generation on Wan2GP was aborted.", service=SERVICE, details={"session_hash": session.session_hash})

        if change_model and chain.change_model is not None:
            first = chain.change_model.parameters[0].name
            session.run(chain.change_model, {first: context["model_choice"]}, step_deadline())
        outputs: Any = None
        gallery: Any = None
        for step in chain.steps:
            stop_if_aborted()
            arguments = _arguments(session.app, step, context)
            if step is chain.process:
                outputs = self._process(session, chain, arguments, deadline, on_progress)
                continue
            outputs = session.run(step, arguments, step_deadline())
            if step.base_name == "validate_wizard_prompt" and isinstance(outputs, str) and outputs.strip():
                context["prompt"] = outputs  # the UI's save_inputs reads the prompt this step returns
            if step is chain.finalize:
                gallery = outputs
        stop_if_aborted()
        return gallery if chain.finalize is not None else outputs

    def _process(
        self,
        session: GradioSession,
        chain: GenerateChain,
        arguments: Mapping[str, Any],
        deadline: float,
        on_progress: ProgressCallback | None,
    ) -> Any:
        """``process_tasks`` with Wan2GP's status text streamed beside it for progress messages."""
        job = session.submit(chain.process, arguments)
        status = session.submit(chain.status, {}) if chain.status is not None else None

        def message() -> str:
            outputs = status.outputs() if status is not None else []
            return str(outputs[-1]) if outputs and isinstance(outputs[-1], str) else ""

        return session.wait(job, chain.process, deadline, on_progress, message)

    def _limits(self, chain: GenerateChain) -> dict[str, tuple[float, float]]:
        limits = {}
        for name in DEFAULT_LIMITS:
            parameter = chain.save_inputs.parameter(name)
            if parameter is not None and parameter.minimum is not None and parameter.maximum is not None:
                limits[name] = (parameter.minimum, parameter.maximum)
        return limits

    def _choices(self, chain: GenerateChain) -> dict[str, list[str]]:
        resolution = chain.save_inputs.parameter("resolution")
        return {"resolution": [str(c) for c in (resolution.choices or ())] if resolution else [], "model": chain.models()}

    def abort(self) -> None:
        """Abort every generation this transport runs, through the UI's own Abort event."""
        with self._lock:
            active = list(self._active.items())
            self._aborted.update(job_id for job_id, _ in active)
        for job_id, (session, chain) in active:
            self._abort_session(session, chain, job_id)

    def _abort_session(self, session: GradioSession, chain: GenerateChain, job_id: str) -> None:
        """The UI's Abort in the job's own session (the task stops at its next step);
        Gradio's cancel when there is none or the task does not stop in time."""
        if chain.abort is not None:
            context = {"client_id": job_id}
            try:
                session.run(chain.abort, _arguments(session.app, chain.abort, context), time.monotonic() + ABORT_GRACE)
            except MovieDirectorError as error:
                log.warning("Wan2GP's abort failed (%s); cancelling the Gradio job instead", error)
            else:
                if session.wait_idle(ABORT_GRACE):
                    return
        session.cancel()

    def clear_queue(self) -> None:
        """Clear the queued tasks of our sessions (each job queues its own; others are not ours)."""
        with self._lock:
            active = list(self._active.values())
        for session, chain in active:
            if chain.clear_queue is not None:
                session.run(chain.clear_queue, {}, time.monotonic() + STEP_TIMEOUT)

    def close(self) -> None:
        self.gradio.close()

    def __repr__(self) -> str:
        return f"<WebUITransport {self.gradio.url}>"


__all__ = ["GenerateChain", "WebUITransport", "connect", "find_chain", "looks_like_wan2gp", "probe", "wan2gp_version"]
