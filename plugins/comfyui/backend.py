"""The ``comfyui`` backend: probe, connect, health and capabilities of a ComfyUI server.

The probe is specific (the shape of ``/system_stats``, plain or under ``/api``), so it
is asked before the generic ones. Capabilities come from ``/object_info`` (every node
class, plus "image.generate" / "video.generate" when the nodes for it exist) and from
``/models`` and ``/embeddings``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from movie_director.backend import (
    Backend,
    Capability,
    HealthSample,
    ProbeResult,
)
from movie_director.configdata import ServiceConfig
from movie_director.errors import MovieDirectorError, says_nothing_about_kind
from movie_director.http import probe_session
from movie_director_plugins.comfyui.client import (
    API_PREFIXES,
    LABEL,
    START_HINT,
    ComfyUIClient,
    device_metrics,
    find_api,
    split_api_root,
)
from movie_director_plugins.comfyui.jobs import Job
from movie_director_plugins.comfyui.monitor import MonitorSocket, open_monitor
from movie_director_plugins.comfyui.operations import SUBMIT
from movie_director_plugins.comfyui.workflow import Graph, load_workflow, validate

SAMPLERS = frozenset({"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"})
MODEL_LOADERS = frozenset({"CheckpointLoaderSimple", "CheckpointLoader", "ImageOnlyCheckpointLoader", "UNETLoader", "unCLIPCheckpointLoader"})
#: Model folders whose files are listed as capabilities (one request each).
LISTED_MODEL_FOLDERS = ("checkpoints", "diffusion_models", "loras", "vae")


class ComfyUIBackend(Backend[ComfyUIClient]):
    kind = "comfyui"
    display_name = LABEL
    default_url = "http://127.0.0.1:8188"
    default_ports = (8188, 8189, 8190, 8080)
    probe_priority = 50
    start_hint = START_HINT
    pool_max = 5
    pool_min = 1
    health_interval = 30.0
    critical = True

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        """ComfyUI when ``/system_stats`` (or ``/api/system_stats``) has its shape; else None."""
        base, pinned = split_api_root(url)
        session = probe_session(url, timeout)
        started = time.perf_counter()
        try:
            found = find_api(session, base, (pinned,) if pinned else API_PREFIXES, service=self.display_name, start_hint=self.start_hint)
        except MovieDirectorError as error:
            if says_nothing_about_kind(error):
                raise  # unreachable, slow, busy or broken: say so, not "another program"
            return None  # it answers, but refuses us (a proxy wanting auth): not recognisably ComfyUI
        finally:
            session.close()
        if found is None:
            return None
        prefix, stats = found
        system = stats.get("system") or {}
        details: dict[str, Any] = {
            "api_prefix": prefix,
            "python_version": system.get("python_version", ""),
            "pytorch_version": system.get("pytorch_version", ""),
            "device_names": [device.get("name", "") for device in stats.get("devices") or [] if isinstance(device, Mapping)],
            **device_metrics(stats),
        }
        return ProbeResult(
            kind=self.kind,
            url=base + prefix,
            version=str(system.get("comfyui_version") or ""),
            latency_ms=(time.perf_counter() - started) * 1000,
            details=details,
            transport="http+websocket",
        )

    def connect(self, service: ServiceConfig) -> ComfyUIClient:
        return ComfyUIClient(service, label=self.display_name, start_hint=self.start_hint, pool_size=service.pool_max or self.pool_max)

    def watch(self, service: ServiceConfig) -> MonitorSocket:
        """The monitor socket on ``/ws`` (its own client id, never a job's)."""
        return open_monitor(service)

    def health(self, connection: ComfyUIClient) -> HealthSample:
        """``/system_stats`` latency, queue depth from ``/queue``, VRAM free/total."""
        started = time.perf_counter()
        stats = connection.system_stats()
        latency = (time.perf_counter() - started) * 1000
        queue = connection.queue()
        metrics = {
            **device_metrics(stats),
            "queue_running": float(len(queue.running)),
            "queue_pending": float(len(queue.pending)),
            "queue_depth": float(queue.depth),
        }
        return HealthSample(ok=True, latency_ms=latency, metrics=metrics, version=str((stats.get("system") or {}).get("comfyui_version") or ""))

    def capabilities(self, connection: ComfyUIClient) -> list[Capability]:
        info = connection.object_info()
        found = derived_capabilities(info)
        found += [node_capability(name, entry) for name, entry in sorted(info.items()) if isinstance(entry, Mapping)]
        folders = connection.models()
        found += [Capability("comfyui.model_folder", folder) for folder in folders]
        for folder in LISTED_MODEL_FOLDERS:
            if folder in folders:
                found += [Capability("comfyui.model", name, details={"folder": folder}) for name in connection.model_files(folder)]
        found += [Capability("comfyui.embedding", name) for name in connection.embeddings()]
        return found

    def is_usable(self, connection: ComfyUIClient) -> bool:
        return connection.is_usable()

    def requirements(self, op_type: str, payload: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
        """A queued workflow needs every node class it uses (a custom node pack one server lacks)."""
        workflow = payload.get("workflow") if op_type == SUBMIT else None
        if not isinstance(workflow, Mapping):
            return frozenset()
        return frozenset(("comfyui.node", str(node["class_type"])) for node in workflow.values() if isinstance(node, Mapping) and "class_type" in node)

    def load_workflow(self, source: Any) -> Graph:
        return load_workflow(source, self.display_name)

    def check_workflow(self, connection: ComfyUIClient, workflow: Any) -> None:
        validate(workflow, connection.object_info(), self.display_name)

    def submit(self, connection: ComfyUIClient, workflow: Mapping[str, Any] | str | os.PathLike[str], prompt_id: str | None = None, **options: Any) -> Job:
        """Queue ``workflow`` on a pooled connection (see :meth:`ComfyUIClient.submit`)."""
        return connection.submit(workflow, prompt_id, **options)


def node_capability(name: str, entry: Mapping[str, Any]) -> Capability:
    return Capability(
        "comfyui.node",
        name,
        details={"category": entry.get("category", ""), "display_name": entry.get("display_name", name), "output_node": bool(entry.get("output_node"))},
    )


def derived_capabilities(info: Mapping[str, Any]) -> list[Capability]:
    """What the node set allows: image generation (sampler + model loader), video (plus video nodes)."""
    names = set(info)
    if not (names & SAMPLERS and names & MODEL_LOADERS):
        return []
    limits = {}
    latent = _required(info, "EmptyLatentImage")
    for key in ("width", "height", "batch_size"):
        bounds = _bounds(latent.get(key))
        if bounds:
            limits[key] = bounds
    steps = _bounds(_required(info, "KSampler").get("steps"))
    if steps:
        limits["steps"] = steps
    found = [Capability("image.generate", "comfyui", limits=limits, details={"samplers": sorted(names & SAMPLERS)})]
    video_nodes = sorted(name for name, entry in info.items() if _is_video_node(name, entry))
    if video_nodes:
        found.append(Capability("video.generate", "comfyui", limits=limits, details={"video_nodes": video_nodes[:20]}))
    return found


def _is_video_node(name: str, entry: Any) -> bool:
    if not isinstance(entry, Mapping):
        return False
    outputs = found if isinstance(found := entry.get("output"), list) else []
    category = str(entry.get("category") or "").lower()
    return "VIDEO" in outputs or "video" in category or "LatentVideo" in name or "ToVideo" in name


def _required(info: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    entry = info.get(name)
    inputs = entry.get("input") if isinstance(entry, Mapping) else None
    required = inputs.get("required") if isinstance(inputs, Mapping) else None
    return required if isinstance(required, Mapping) else {}


def _bounds(spec: Any) -> tuple[float, float] | None:
    if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], Mapping):
        low, high = spec[1].get("min"), spec[1].get("max")
        if isinstance(low, (int, float)) and isinstance(high, (int, float)):
            return (float(low), float(high))
    return None


__all__ = ["ComfyUIBackend", "derived_capabilities", "node_capability"]
