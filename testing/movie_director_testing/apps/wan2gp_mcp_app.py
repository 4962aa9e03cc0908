"""A stand-in for Wan2GP 12.60's headless MCP server, without models or a GPU.

Wan2GP serves `python wgp.py --mcp --mcp-transport streamable-http` with FastMCP from
mcp 1.10.1: server "WanGP", `json_response=True`, `stateless_http=True`, the MCP endpoint
at `/mcp`, plus two plain HTTP routes for gallery media transfer. This script configures
FastMCP the same way and exposes the same 22 `wangp_*` tools, so a client sees the real
wire. Generation is simulated: a job emits the events Wan2GP's session API emits
(started, stream, status, progress, preview, error, completed) and writes a tiny MP4.

Ways to steer a job from a test:
- a prompt containing "[fail]" fails the task halfway (an `error` event, not a tool error);
- an unknown `model_type` fails the job the way Wan2GP does (`'NoneType' object has no
  attribute 'get'`, stage "runtime");
- `--missing-weights` makes every task fail at model loading, as a server without weights;
- `wangp_cancel_job` stops a job at the next step (`result.cancelled: true`).

`--realistic` makes it as costly to ask as the real 12.60: a catalogue of 217 model types
across its 19 families (92 video, 52 image+video, 48 image, 25 audio; alphabetical, as the
real one lists them), each page capped as the real tools cap them, and every tool call
costing 20–70 ms of the server's one event loop (`--call-latency-ms LO-HI` to change it).

Runs in its own venv (mcp, uvicorn, starlette): it imports nothing from movie_director.
"""

import argparse
import fnmatch
import functools
import hashlib
import json
import mimetypes
import random
import re
import struct
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

from mcp.server.fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

MAX_STORED_EVENTS = 500
DEFAULT_EVENT_LIMIT = 20
TRANSFER_TTL_SECONDS = 600
MAX_UPLOAD_BYTES = 8 * 1024**3
FAIL_MARKER = "[fail]"
HUB_ERROR = (
    "An error happened while trying to locate the file on the Hub and we cannot find the requested files "
    "in the local cache. Please check your connection and try again or make sure your Internet connection is on."
)
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
AUDIO_EXTENSIONS = {".wav", ".mp3", ".aac", ".m4a", ".flac", ".ogg", ".opus"}
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".webm", ".avi"}
MEDIA_SETTING_KEYS = {
    "image_start", "image_end", "image_refs", "image_guide", "image_mask",
    "video_guide", "video_guide2", "video_mask", "video_source",
    "audio_guide", "audio_guide2", "audio_source",
    "replace_voice_sample", "replace_voice_sample2", "custom_guide",
}
# Leading bytes that a real decoder would accept, per media type (Wan2GP opens the file).
MEDIA_SIGNATURES = {
    "image": (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*"),
    "video": (b"\x1a\x45\xdf\xa3", b"RIFF"),
    "audio": (b"RIFF", b"ID3", b"\xff\xf1", b"\xff\xf9", b"\xff\xfb", b"fLaC", b"OggS"),
}


def _model(model_type: str, name: str, base: str, inputs: list[str], finetune: bool, output: str = "video") -> dict[str, Any]:
    family = "flux" if base == "flux" else "wan"
    return {
        "model_type": model_type,
        "name": name,
        "family": family,
        "family_label": "Flux" if family == "flux" else "Wan",
        "base_model_type": base,
        "finetune": finetune,
        "main_output": [output],
        "outputs": [output],
        "inputs": inputs,
        "description": f"{name} ({'image' if output == 'image' else 'video'} generator)",
        "fps": 16 if output == "video" else None,
        "frames_minimum": 5 if output == "video" else None,
        "frames_steps": 4 if output == "video" else None,
        "frames_maximum": 737 if output == "video" else None,
    }


MODELS: dict[str, dict[str, Any]] = {
    record["model_type"]: record
    for record in (
        _model("t2v", "Wan2.1 Text2video 14B", "t2v", ["text"], False),
        _model("t2v_1.3B", "Wan2.1 Text2video 1.3B", "t2v_1.3B", ["text"], False),
        _model("i2v", "Wan2.1 Image2video 480p 14B", "i2v", ["text", "image_start", "image_end"], False),
        _model("t2v_fusionix", "Wan2.1 Fusionix 14B", "t2v", ["text"], True),
        _model("flux", "Flux 1 Dev 12B", "flux", ["text", "image_refs"], False, output="image"),
    )
}
MISSING_MODELS = {"i2v"}  # reported as having no weights on disk, like a fresh install

# The real 12.60 catalogue's shape: (family, label, models, main_output, inputs).
# fmt: off
REAL_FAMILIES = (
    ("wan", "Wan2.1", 30, ["video"], ["text", "image_start", "image_end"]),
    ("wan", "Wan2.1", 20, ["image", "video"], ["text", "image_refs"]),
    ("wan2_2", "Wan2.2", 32, ["image", "video"], ["text", "image_start", "image_end"]),
    ("ltx2", "LTX-2", 25, ["video"], ["text", "image_start"]),
    ("kandinsky5", "Kandinsky 5", 7, ["video"], ["text"]), ("kandinsky5", "Kandinsky 5 Image", 2, ["image"], ["text"]),
    ("hunyuan", "Hunyuan Video", 8, ["video"], ["text", "image_refs"]), ("hunyuan_1_5", "Hunyuan Video 1.5", 8, ["video"], ["text", "image_start"]),
    ("longcat", "LongCat Video", 4, ["video"], ["text", "video_guide"]), ("magi_human", "Magi Human", 4, ["video"], ["text", "image_start"]),
    ("minimax_h3", "MiniMax H3", 4, ["video"], ["text"]), ("ltxv", "LTX Video", 2, ["video"], ["text", "image_start"]),
    ("flux", "Flux 1", 11, ["image"], ["text", "image_refs"]), ("z_image", "Z-Image", 9, ["image"], ["text"]),
    ("flux2", "Flux 2", 8, ["image"], ["text", "image_refs"]), ("qwen", "Qwen Image", 8, ["image"], ["text", "image_refs"]),
    ("krea2", "Krea 2", 4, ["image"], ["text"]), ("hidream", "HiDream", 3, ["image"], ["text"]),
    ("ideogram4", "Ideogram 4", 3, ["image"], ["text"]),
    ("music", "Music", 15, ["audio"], ["text", "audio"]), ("tts", "TTS", 10, ["audio"], ["text", "audio"]),
)
# fmt: on
VARIANTS = ("base", "distilled", "lightning", "fusionix", "causvid", "vace", "phantom", "fun_inp", "lora_mix", "self_forcing")
SIZES = ("1.3B", "5B", "14B", "2B", "12B", "20B")


def realistic_catalogue() -> dict[str, dict[str, Any]]:
    """The hand-written models plus generated ones up to the real catalogue's 217, sorted by model_type."""
    catalogue = dict(MODELS)
    for family, label, count, outputs, inputs in REAL_FAMILIES:
        written = sum(1 for m in MODELS.values() if (m["family"], m["main_output"]) == (family, outputs))
        base = f"{family}_{'_'.join(outputs)}"
        for number in range(count - written):
            variant, size = VARIANTS[number % len(VARIANTS)], SIZES[number % len(SIZES)]
            model_type = f"{base}_{variant}_{number}"
            record = _model(model_type, f"{label} {variant.replace('_', ' ').title()} {size} #{number}", f"{base}_{VARIANTS[0]}_0", inputs, number > 0, outputs[0])
            catalogue[model_type] = {**record, "family": family, "family_label": label, "main_output": list(outputs), "outputs": list(outputs)}
    return dict(sorted(catalogue.items()))

SETTING_VALUES: dict[str, dict[str, Any]] = {
    "prompt": {"type": "str"},
    "negative_prompt": {"type": "str"},
    "resolution": {"type": "choice", "choices": ["832x624", "624x832", "720x720", "832x480", "480x832"]},
    "video_length": {"type": "int", "min": 5, "max": 737, "step": 4},
    "num_inference_steps": {"type": "int", "min": 1, "max": 100},
    "seed": {"type": "int", "min": -1, "max": 999999999},
    "guidance_scale": {"type": "float", "min": 1.0, "max": 20.0, "step": 0.5},
    "flow_shift": {"type": "float", "min": 0.0, "max": 25.0, "step": 0.1},
    "sample_solver": {"type": "choice", "choices": ["unipc", "euler", "dpm++", "causvid"]},
    "embedded_guidance_scale": {"type": "float", "min": 1.0, "max": 20.0},
    "repeat_generation": {"type": "int", "min": 1, "max": 25},
    "skip_steps_cache_type": {"type": "choice", "choices": ["", "tea", "mag"]},
    "skip_steps_multiplier": {"type": "float", "min": 1.0, "max": 3.0},
    "activated_loras": {"type": "list[str]"},
    "loras_multipliers": {"type": "str"},
    "image_start": {"type": "media", "media_type": "image"},
    "image_end": {"type": "media", "media_type": "image"},
}


def default_settings(model_type: str, steps: int) -> dict[str, Any]:
    """The 20 keys `wangp_get_default_settings` returns for a Wan model."""
    return {
        "prompt": "",
        "negative_prompt": "",
        "resolution": "832x480",
        "video_length": 81,
        "num_inference_steps": steps,
        "seed": -1,
        "guidance_scale": 5.0,
        "flow_shift": 5.0,
        "sample_solver": "unipc",
        "embedded_guidance_scale": 6.0,
        "repeat_generation": 1,
        "multi_images_gen_type": 0,
        "skip_steps_cache_type": "",
        "skip_steps_multiplier": 1.75,
        "skip_steps_start_step_perc": 0,
        "activated_loras": [],
        "loras_multipliers": "",
        "image_prompt_type": "",
        "video_prompt_type": "",
        "model_type": model_type,
    }


def availability(model_type: str) -> dict[str, Any]:
    status, code, indicator = ("missing", 0, "black_square") if model_type in MISSING_MODELS else ("available", 2, "blue_square")
    return {"model_type": model_type, "status": status, "status_code": code, "indicator": indicator, "available": code == 2}


def _matches(value: Any, pattern: str | None) -> bool:
    if pattern is None:
        return True
    values = value if isinstance(value, list) else [value]
    return any(fnmatch.fnmatchcase(str(item).casefold(), pattern.casefold()) for item in values)


def metadata(model_type: str, include_availability: bool) -> dict[str, Any]:
    record = dict(MODELS[model_type])
    if include_availability:
        record["availability"] = availability(model_type)
    return record


def find_models(query: str | None = None, include_availability: bool = False, **filters: str | None) -> list[dict[str, Any]]:
    """Model metadata records matching Wan2GP's glob filters and free-text query."""
    found = []
    for model_type, record in MODELS.items():
        haystack = " ".join(str(record[key]) for key in ("model_type", "name", "family", "description")).casefold()
        if all(_matches(record[key], pattern) for key, pattern in filters.items()) and (not query or query.casefold() in haystack):
            found.append(metadata(model_type, include_availability))
    return found


def media_type_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    for media_type, extensions in (("image", IMAGE_EXTENSIONS), ("video", VIDEO_EXTENSIONS), ("audio", AUDIO_EXTENSIONS)):
        if suffix in extensions:
            return media_type
    return ""


def tiny_mp4(duration_ms: int) -> bytes:
    """A structurally valid MP4: an `ftyp` box and a `moov` box holding an `mvhd`."""
    ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"isom", 0x200) + b"isomiso2"
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd_body = struct.pack(">IIIII", 0, 0, 0, 1000, duration_ms) + struct.pack(">IH", 0x10000, 0x100) + bytes(10)
    mvhd_body += matrix + bytes(24) + struct.pack(">I", 1)
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    return ftyp + struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd


def tiny_png() -> bytes:
    """A valid 1x1 grey PNG, the output of an image model."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")


class Gallery:
    """The session's gallery: every generated or uploaded file, addressed by a gallery id."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def add(self, path: Path, settings: dict[str, Any]) -> dict[str, Any]:
        media_type = media_type_of(str(path))
        gallery = "audio" if media_type == "audio" else "visual"
        gallery_id = f"{gallery}:{hashlib.sha1(str(path).casefold().encode()).hexdigest()[:12]}"
        with self._lock:
            for record in self._records.values():
                if record["gallery"] == gallery:
                    record["selected"] = False
            index = sum(1 for record in self._records.values() if record["gallery"] == gallery)
            self._records[gallery_id] = {
                "gallery_id": gallery_id,
                "gallery": gallery,
                "index": index,
                "path": str(path),
                "filename": path.name,
                "media_type": media_type,
                "size": path.stat().st_size,
                "selected": True,
                "in_gallery": True,
                "settings": settings,
            }
            return json.loads(json.dumps(self._records[gallery_id]))

    def get(self, gallery_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._records.get(str(gallery_id or "").strip().lower())
            if record is None or not Path(record["path"]).is_file():
                raise KeyError(f"Unknown WanGP gallery_id: {gallery_id}")
            return json.loads(json.dumps(record))

    def items(self, media_type: str = "all") -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(r)) for r in self._records.values() if media_type in ("all", r["media_type"])]


def compact(record: dict[str, Any]) -> dict[str, Any]:
    """The short form a gallery listing or a job result shows."""
    settings = record["settings"]
    summary = {key: record[key] for key in ("gallery_id", "gallery", "media_type", "filename", "selected", "in_gallery")}
    summary["description"] = str(settings.get("prompt", "") or "")[:120]
    if record["media_type"] == "video" and settings.get("resolution"):
        fps = 16
        frames = int(settings.get("video_length", 81) or 81)
        summary.update(resolution=settings["resolution"], frame_count=frames, fps=fps, duration_seconds=round(frames / fps, 3))
    return summary


class Transfers:
    """One-use upload and download tokens that expire after ten minutes."""

    def __init__(self, gallery: Gallery, upload_root: Path, max_bytes: int) -> None:
        self.gallery = gallery
        self.upload_root = upload_root
        self.max_bytes = max_bytes
        self._uploads: dict[str, dict[str, Any]] = {}
        self._downloads: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        cutoff = time.time() - TRANSFER_TTL_SECONDS
        for store in (self._uploads, self._downloads):
            for token, ticket in list(store.items()):
                if ticket["created"] < cutoff:
                    del store[token]

    def create_upload(self, filename: str) -> dict[str, Any]:
        safe_name = Path(str(filename or "").strip()).name
        if safe_name in {"", ".", ".."} or not media_type_of(safe_name):
            raise ValueError("filename must have a supported image, video, or audio extension")
        token = uuid.uuid4().hex
        with self._lock:
            self._expire()
            self._uploads[token] = {"created": time.time(), "filename": safe_name}
        return {
            "upload_url": f"/wangp_api/gallery/upload/{token}",
            "method": "PUT",
            "filename": safe_name,
            "expires_in_seconds": TRANSFER_TTL_SECONDS,
            "max_bytes": self.max_bytes,
        }

    def create_download(self, gallery_id: str) -> dict[str, Any]:
        record = self.gallery.get(gallery_id)
        token = uuid.uuid4().hex
        with self._lock:
            self._expire()
            self._downloads[token] = {"created": time.time(), "gallery_id": record["gallery_id"]}
        return {
            "gallery_id": record["gallery_id"],
            "download_url": f"/wangp_api/gallery/download/{token}",
            "filename": record["filename"],
            "media_type": record["media_type"],
            "size": Path(record["path"]).stat().st_size,
            "expires_in_seconds": TRANSFER_TTL_SECONDS,
        }

    def consume(self, kind: str, token: str) -> dict[str, Any] | None:
        with self._lock:
            self._expire()
            return (self._uploads if kind == "upload" else self._downloads).pop(token, None)

    async def upload(self, request: Request) -> Response:
        ticket = self.consume("upload", request.path_params["token"])
        if ticket is None:
            return JSONResponse({"error": "Upload expired or not found."}, status_code=404)
        declared = request.headers.get("content-length")
        if declared is not None and not declared.isdigit():
            return JSONResponse({"error": "Invalid Content-Length header."}, status_code=400)
        if declared is not None and int(declared) > self.max_bytes:
            return JSONResponse({"error": f"Upload exceeds the {self.max_bytes}-byte limit."}, status_code=413)
        target = self.upload_root / uuid.uuid4().hex / ticket["filename"]
        target.parent.mkdir(parents=True)
        size = 0
        try:
            with target.open("xb") as writer:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ValueError(f"Upload exceeds the {self.max_bytes}-byte limit.")
                    writer.write(chunk)
            media_type = media_type_of(target.name)
            with target.open("rb") as reader:
                head = reader.read(16)
            if not head.startswith(MEDIA_SIGNATURES[media_type]) and not (media_type == "video" and head[4:8] == b"ftyp"):
                raise ValueError(f"Unable to read uploaded {media_type}: {target.name}")
            record = self.gallery.add(target, {})
        except ValueError as exc:
            target.unlink(missing_ok=True)
            target.parent.rmdir()
            return JSONResponse({"error": str(exc)}, status_code=413 if size > self.max_bytes else 400)
        return JSONResponse({"status": "uploaded", "size": size, **compact(record)})

    async def download(self, request: Request) -> Response:
        ticket = self.consume("download", request.path_params["token"])
        if ticket is None:
            return JSONResponse({"error": "Download expired or not found."}, status_code=404)
        path = self.gallery.get(ticket["gallery_id"])["path"]
        return FileResponse(path, filename=Path(path).name, media_type=mimetypes.guess_type(path)[0] or "application/octet-stream")


class Job:
    """One `wangp_generate` call: a worker thread that appends events until `completed`."""

    def __init__(self, session: "Session", tasks: list[dict[str, Any]]) -> None:
        self.session = session
        self.tasks = tasks
        self.job_id = uuid.uuid4().hex
        self.created_at = self.updated_at = time.time()
        self.events: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self.cancel_requested = threading.Event()
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"wangp-mcp-job-{self.job_id}")

    def start(self) -> "Job":
        self._thread.start()
        return self

    def emit(self, kind: str, data: Any) -> None:
        with self._lock:
            self.events.append({"kind": kind, "timestamp": time.time(), "data": data})
            del self.events[:-MAX_STORED_EVENTS]
            self.updated_at = time.time()

    def snapshot(self, event_limit: int | None) -> dict[str, Any]:
        limit = max(0, min(int(DEFAULT_EVENT_LIMIT if event_limit is None else event_limit), MAX_STORED_EVENTS))
        with self._lock:
            events = json.loads(json.dumps(self.events[-limit:] if limit else []))
            result = json.loads(json.dumps(self.result))
            updated_at = self.updated_at
        if result is not None:
            generated = set(result["generated_files"])
            result["gallery_items"] = [compact(r) for r in self.session.gallery.items() if r["path"] in generated]
        return {
            "job_id": self.job_id,
            "done": self.done.is_set(),
            "cancel_requested": self.cancel_requested.is_set(),
            "webui_submission_ready": False,
            "webui_load_queue_token": "",
            "created_at": self.created_at,
            "updated_at": updated_at,
            "events": events,
            "result": result,
        }

    def _run(self) -> None:
        errors: list[dict[str, Any]] = []
        generated: list[str] = []
        failed = 0
        self.emit("started", {"tasks": len(self.tasks)})
        for index, task in enumerate(self.tasks, start=1):
            if self.cancel_requested.is_set():
                break
            if task["params"].get("model_type") not in MODELS:
                # Wan2GP looks the model definition up and calls .get() on the None it finds.
                errors.append(_error("'NoneType' object has no attribute 'get'", None, None, "runtime"))
                self.emit("error", errors[-1])
                break
            outcome = self._run_task(index, task)
            if isinstance(outcome, str):
                generated.append(outcome)
                continue
            errors.append(outcome)
            failed += 1
            self.emit("error", outcome)
            if outcome["cancelled"]:
                break
        if self.cancel_requested.is_set() and not errors:
            errors.append(_error("Generation was cancelled", None, None, "cancelled"))
            failed = max(failed, 1)
        result = {
            "success": not errors,
            "cancelled": bool(errors) and all(error["cancelled"] for error in errors),
            "generated_files": generated,
            "errors": errors,
            "total_tasks": len(self.tasks),
            "successful_tasks": len(generated),
            "failed_tasks": failed,
            "artifacts": [],
        }
        self.emit("completed", result)
        with self._lock:
            self.result = result
        self.done.set()

    def _run_task(self, index: int, task: dict[str, Any]) -> str | dict[str, Any]:
        """Simulate one task; return the output path, or the error that ended it."""
        params = task["params"]
        model = MODELS[params["model_type"]]
        options = self.session.options
        loading = f"Loading model {model['name']}..."
        self.emit("status", loading)
        self.emit("stream", {"stream": "stdout", "text": loading})
        if options.missing_weights:
            return _error(HUB_ERROR, index, task["id"], "generation")
        total = int(params.get("num_inference_steps") or options.steps_default)
        fail_at = max(1, total // 2) if FAIL_MARKER in str(params.get("prompt", "")) else None
        self.emit("status", "Generating...")
        for step in range(1, total + 1):
            if self.cancel_requested.wait(options.step_seconds):
                return _error("Generation was cancelled", index, task["id"], "cancelled")
            if step == fail_at:
                return _error(f"Simulated failure at denoising step {step}/{total}", index, task["id"], "generation")
            status = f"Prompt {index}/{len(self.tasks)} | Denoising"
            progress = {"phase": "denoising", "status": status, "progress": round(100 * step / total),
                        "current_step": step, "total_steps": total, "raw_phase": "Denoising", "unit": "steps"}
            self.emit("progress", progress)
            if step == (total + 1) // 2:
                self.emit("preview", {"has_image_preview": False, **{k: progress[k] for k in ("phase", "status", "progress", "current_step", "total_steps")}})
        return self.session.save_output(params)


def _error(message: str, task_index: int | None, task_id: Any, stage: str) -> dict[str, Any]:
    return {"message": message, "task_index": task_index, "task_id": task_id, "stage": stage, "cancelled": stage == "cancelled"}


class Session:
    """Wan2GP's headless session: one generation at a time, a gallery and the job table."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.output_dir = Path(options.output_dir).resolve()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.gallery = Gallery()
        self.jobs: dict[str, Job] = {}
        self._active: Job | None = None
        self._lock = threading.Lock()
        self.call_latency = options.call_latency_ms

    def charge(self) -> None:
        """What one tool call costs on the real server (nothing unless asked for)."""
        if self.call_latency is not None:
            time.sleep(random.uniform(*self.call_latency) / 1000)

    def submit(self, source: dict[str, Any] | list[dict[str, Any]]) -> Job:
        tasks = [self._resolve_media(task) for task in _normalize(source)]
        with self._lock:
            if self._active is not None and not self._active.done.is_set():
                raise RuntimeError("WanGP session already has a generation in progress")
            job = Job(self, tasks)
            self.jobs[job.job_id] = self._active = job
        return job.start()

    def job(self, job_id: str) -> Job:
        with self._lock:
            job = self.jobs.get(str(job_id or "").strip())
        if job is None:
            raise KeyError(f"Unknown WanGP job_id: {job_id}")
        return job

    def _resolve_media(self, task: dict[str, Any]) -> dict[str, Any]:
        """Replace gallery ids in media settings by server paths, as Wan2GP does before submitting."""
        params = task["params"]
        for key in MEDIA_SETTING_KEYS & params.keys():
            value = params[key]
            if value is None or isinstance(value, str) and not value.strip():
                continue
            params[key] = [self.media_path(item, key) for item in value] if isinstance(value, list) else self.media_path(value, key)
        return task

    def media_path(self, reference: Any, label: str) -> str:
        reference = str(reference or "").strip()
        if not reference.lower().startswith(("visual:", "audio:")):
            raise PermissionError(
                f"Direct filesystem paths are disabled for this MCP server. Use a gallery_id returned by "
                f"wangp_list_gallery for {label}, or restart with filesystem reads enabled."
            )
        return self.gallery.get(reference)["path"]

    def save_output(self, params: dict[str, Any]) -> str:
        """Write the task's output file into the output folder and the gallery; return its path."""
        image = MODELS[params["model_type"]]["main_output"] == ["image"]
        slug = re.sub(r"\W+", "_", str(params.get("prompt", "")))[:40].strip("_") or "output"
        path = self.output_dir / f"{time.strftime('%Y-%m-%d-%Hh%Mm%Ss')}_{uuid.uuid4().hex[:6]}_{slug}.{'png' if image else 'mp4'}"
        frames = int(params.get("video_length") or 81)
        path.write_bytes(tiny_png() if image else tiny_mp4(round(frames * 1000 / 16)))
        self.gallery.add(path, params)
        return str(path)


def _normalize(source: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wan2GP's task shapes: a settings dict, a task dict (`params`/`settings`), a manifest, or a list."""
    if isinstance(source, dict) and isinstance(source.get("tasks"), list):
        source = source["tasks"]
    items = source if isinstance(source, list) else [source]
    seed = time.time_ns()
    tasks = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise TypeError(f"Task {index} must be a dictionary")
        task = json.loads(json.dumps(item))
        if "settings" in task and "params" not in task:
            task["params"] = task.pop("settings")
        if "params" not in task:
            task = {"id": index, "params": task, "plugin_data": {}}
        task.setdefault("id", index)
        task["params"].setdefault("client_id", f"api_{seed}_{index}")
        tasks.append(task)
    return tasks


def build_server(session: Session, host: str, port: int, max_upload_bytes: int) -> FastMCP:
    """FastMCP configured as `wgp.py --mcp --mcp-transport streamable-http` configures it."""
    mcp = FastMCP("WanGP", host=host, port=port, json_response=True, stateless_http=True)
    transfers = Transfers(session.gallery, session.output_dir / "mcp_uploads", max_upload_bytes)
    mcp.custom_route("/wangp_api/gallery/upload/{token}", methods=["PUT"], include_in_schema=False)(transfers.upload)
    mcp.custom_route("/wangp_api/gallery/download/{token}", methods=["GET"], include_in_schema=False)(transfers.download)
    steps = session.options.steps_default

    def tool(function: Any) -> Any:
        """`@mcp.tool()`, each call costing what a real one costs: a synchronous pause, as the
        real tools are synchronous and hold the server's one event loop (calls queue up)."""

        @functools.wraps(function)
        def charged(*args: Any, **kwargs: Any) -> Any:
            session.charge()
            return function(*args, **kwargs)

        return mcp.tool()(charged)

    def defaults(model_type: str) -> dict[str, Any]:
        if model_type not in MODELS:
            raise ValueError(f"Unknown model_type: {model_type}")
        return default_settings(model_type, steps)

    @tool
    def wangp_list_models(family: str | None = None, base_model_type: str | None = None, finetune: str | None = None, model_type: str | None = None, main_output: str | None = None, inputs: str | None = None, name: str | None = None, query: str | None = None, limit: int = 10, offset: int = 0, include_availability: bool = False) -> list[dict[str, Any]]:
        """List at most 10 compact model records. String filters accept case-insensitive * and ? globs."""
        found = find_models(query, include_availability, family=family, base_model_type=base_model_type, finetune=finetune, model_type=model_type, main_output=main_output, inputs=inputs, name=name)
        start = max(0, int(offset))
        return found[start:start + max(1, min(int(limit), 10))]

    @tool
    def wangp_search_models(query: str, family: str | None = None, base_model_type: str | None = None, finetune: str | None = None, main_output: str | None = None, inputs: str | None = None, limit: int = 10, offset: int = 0, include_availability: bool = False) -> dict[str, Any]:
        """Search models by name, id, family or description; a bounded page with totals."""
        if not str(query or "").strip():
            raise ValueError("query is required")
        found = find_models(query, include_availability, family=family, base_model_type=base_model_type, finetune=finetune, main_output=main_output, inputs=inputs)
        start, size = max(0, int(offset)), max(1, min(int(limit), 50))
        page = found[start:start + size]
        return {"matches": page, "total_matches": len(found), "returned": len(page), "offset": start, "has_more": start + len(page) < len(found)}

    @tool
    def wangp_list_model_defs(family: str | None = None, base_model_type: str | None = None, finetune: str | None = None, model_type: str | None = None, main_output: str | None = None, inputs: str | None = None, name: str | None = None, query: str | None = None, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        """List a bounded page of full model definitions."""
        found = find_models(query, False, family=family, base_model_type=base_model_type, finetune=finetune, model_type=model_type, main_output=main_output, inputs=inputs, name=name)
        start = max(0, int(offset))
        return [{"name": m["name"], "model_type": m["model_type"], "metadata": m, "architecture": m["base_model_type"]} for m in found[start:start + max(1, min(int(limit), 20))]]

    @tool
    def wangp_list_model_availability(family: str | None = None, base_model_type: str | None = None, finetune: str | None = None, model_type: str | None = None, main_output: str | None = None, inputs: str | None = None, name: str | None = None, query: str | None = None, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
        """List local model-file availability records."""
        found = find_models(query, False, family=family, base_model_type=base_model_type, finetune=finetune, model_type=model_type, main_output=main_output, inputs=inputs, name=name)
        start = max(0, int(offset))
        return [availability(m["model_type"]) for m in found[start:start + max(1, min(int(limit), 50))]]

    @tool
    def wangp_get_model(model_type: str) -> dict[str, Any] | None:
        """Return one model definition (None when the model type is unknown)."""
        model = MODELS.get(model_type)
        return None if model is None else {"name": model["name"], "model_type": model_type, "metadata": model, "architecture": model["base_model_type"]}

    @tool
    def wangp_get_model_metadata(model_type: str, include_availability: bool = False) -> dict[str, Any] | None:
        """Return one compact model metadata record."""
        return metadata(model_type, include_availability) if model_type in MODELS else None

    @tool
    def wangp_get_model_availability(model_type: str) -> dict[str, Any]:
        """Return local file availability for one model."""
        defaults(model_type)
        return availability(model_type)

    @tool
    def wangp_get_default_settings(model_type: str) -> dict[str, Any]:
        """Return pristine model defaults, without type or settings version."""
        return defaults(model_type)

    @tool
    def wangp_list_loras(model_type: str, name: str | None = None) -> dict[str, Any]:
        """List locally available LoRAs for a model (none are installed here)."""
        defaults(model_type)
        return {"model_type": model_type, "loras": [], "total": 0}

    @tool
    def wangp_get_model_schema(model_type: str) -> dict[str, Any] | None:
        """Return the model definition, metadata, setting value ranges and default settings."""
        model = MODELS.get(model_type)
        if model is None:
            return None
        return {"model_type": model_type, "name": model["name"], "model_def": wangp_get_model(model_type), "metadata": model,
                "setting_values": SETTING_VALUES, "default_settings": defaults(model_type)}

    @tool
    def wangp_list_gallery(media_type: str = "all", limit: int = 50) -> list[dict[str, Any]]:
        """List compact summaries of the session gallery, newest last."""
        if media_type not in {"all", "image", "video", "audio"}:
            raise ValueError("media_type must be all, image, video, or audio")
        return [compact(record) for record in session.gallery.items(media_type)][-max(1, min(int(limit), 500)):]

    @tool
    def wangp_get_gallery_item(gallery_id: str) -> dict[str, Any]:
        """Return one gallery record, with its server path and the settings that produced it."""
        return session.gallery.get(gallery_id)

    @tool
    def wangp_get_gallery_selection() -> dict[str, Any]:
        """Return the selected item of the visual and audio galleries."""
        selected = {record["gallery"]: compact(record) for record in session.gallery.items() if record["selected"]}
        return {"visual": selected.get("visual"), "audio": selected.get("audio")}

    @tool
    def wangp_create_gallery_upload(filename: str) -> dict[str, Any]:
        """Create a short-lived HTTP PUT URL for uploading image, video, or audio media into the gallery."""
        return transfers.create_upload(filename)

    @tool
    def wangp_create_gallery_download(gallery_id: str) -> dict[str, Any]:
        """Create a short-lived HTTP GET URL for downloading one gallery item."""
        return transfers.create_download(gallery_id)

    @tool
    def wangp_list_deepy_templates(tool_id: str | None = None) -> list[dict[str, Any]]:
        """List Deepy's settings templates, the default of each tool marked."""
        catalog = [{"tool_id": "gen_video", "label": "Generate Video", "default_template": "wan_t2v",
                    "templates": [{"template": "wan_t2v", "label": "Wan 2.1 Text2Video", "default": True}]},
                   {"tool_id": "gen_image", "label": "Generate Image", "default_template": "flux_dev",
                    "templates": [{"template": "flux_dev", "label": "Flux Dev", "default": True}]}]
        if tool_id is not None and tool_id not in {entry["tool_id"] for entry in catalog}:
            raise ValueError("tool_id must be one of: gen_video, gen_image")
        return [entry for entry in catalog if tool_id in (None, entry["tool_id"])]

    @tool
    def wangp_get_deepy_template_settings(tool_id: str, template: str) -> dict[str, Any]:
        """Return the settings of a Deepy template."""
        entry = wangp_list_deepy_templates(tool_id)[0]
        if template not in ("default", entry["default_template"]):
            raise ValueError(f"Unknown Deepy template '{template}' for tool '{tool_id}'.")
        model_type = "t2v" if tool_id == "gen_video" else "flux"
        return {"tool_id": tool_id, "template": entry["default_template"], "default": True, "default_template": entry["default_template"],
                "general_properties_active": False, "settings": defaults(model_type)}

    @tool
    def wangp_postprocess(gallery_id: str | None = None, path: str | None = None, process: str | None = None, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """Discover post-processing for one gallery item (none is available without models)."""
        if bool(gallery_id) == bool(path):
            raise ValueError("Provide exactly one of gallery_id or path.")
        if path:
            raise PermissionError("Direct filesystem paths are disabled for this MCP server. Use a gallery_id returned by wangp_list_gallery.")
        assert gallery_id is not None  # exactly one of the two was given, and it was not the path
        record = session.gallery.get(gallery_id)
        if process:
            raise ValueError(f"Post-processing process '{process}' is not available for {record['media_type']}.")
        return {"status": "discovery", "path": record["path"], "media_type": record["media_type"], "processes": [], "count": 0}

    @tool
    def wangp_toolbox(action: str | None = None, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Discover WanGP media utilities (none run in this stand-in)."""
        if action:
            raise ValueError(f"Toolbox action '{action}' is unavailable in this WanGP runtime.")
        return {"status": "discovery", "actions": [], "count": 0, "next": "Call again with one action and omit arguments to get its exact schema."}

    @tool
    def wangp_generate(source: dict[str, Any] | list[dict[str, Any]], wait: bool = False, timeout_s: float | None = None, event_limit: int | None = None) -> dict[str, Any]:
        """Start a WanGP generation from a settings dict, task dict, or task list."""
        if not isinstance(source, (dict, list)):
            raise TypeError("source must be a settings dict, task dict, manifest dict, or task list")
        job = session.submit(source)
        # Like Wan2GP, waiting blocks this synchronous tool, and with it the server's event loop.
        if wait and not job.done.wait(timeout_s):
            raise TimeoutError("WanGP session job timed out")
        return job.snapshot(event_limit)

    @tool
    def wangp_get_job(job_id: str, event_limit: int | None = None) -> dict[str, Any]:
        """Poll a WanGP generation job."""
        return session.job(job_id).snapshot(event_limit)

    @tool
    def wangp_cancel_job(job_id: str, event_limit: int | None = None) -> dict[str, Any]:
        """Request cancellation of a WanGP generation job."""
        job = session.job(job_id)
        job.cancel_requested.set()
        return job.snapshot(event_limit)

    return mcp


REALISTIC_LATENCY_MS = (20.0, 70.0)  # one tool call on the real 12.60, on loopback


def latency_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="FastMCP's default, as Wan2GP without --mcp-port")
    parser.add_argument("--output-dir", default="outputs", help="where generated files and uploads go")
    parser.add_argument("--step-seconds", type=float, default=0.05, help="simulated time per denoising step")
    parser.add_argument("--steps-default", type=int, default=30, help="num_inference_steps in the default settings")
    parser.add_argument("--max-upload-bytes", type=int, default=MAX_UPLOAD_BYTES)
    parser.add_argument("--missing-weights", action="store_true", help="every task fails at model loading")
    parser.add_argument("--realistic", action="store_true", help="the real catalogue's size (217 models) and per-call cost")
    parser.add_argument("--call-latency-ms", type=latency_range, default=None, metavar="LO-HI", help="each tool call takes LO–HI ms (with --realistic: 20-70)")
    args = parser.parse_args(argv)
    if args.realistic:
        MODELS.clear()
        MODELS.update(realistic_catalogue())
        args.call_latency_ms = args.call_latency_ms or REALISTIC_LATENCY_MS
    build_server(Session(args), args.host, args.port, args.max_upload_bytes).run(transport="streamable-http")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
