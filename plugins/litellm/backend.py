"""The LiteLLM proxy as a backend (and any other OpenAI-compatible server as kind ``openai``).

Recognising a LiteLLM proxy: its public ``/health/liveliness`` ("I'm alive!") and
``/health/readiness`` (``{"status": ..., "db": ...}``) routes. Another server that only
speaks the OpenAI API (vLLM, llama.cpp, Ollama, LM Studio) has neither; it is kind
``openai``, recognised by the shape of its ``/v1/models`` list, and is driven by the
same client.

Health never calls ``/health``: LiteLLM answers it by calling every configured model,
which costs money. It reads readiness (DB and cache state when the proxy reports them)
and the model list, and reports the service's token and cost totals as metrics.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from movie_director.backend import Backend, Capability, HealthSample, ProbeResult
from movie_director.capabilities import LLM_CHAT, standard
from movie_director.configdata import ServiceConfig
from movie_director.errors import ConnectionProblem, MovieDirectorError, ServiceError
from movie_director.http import probe_json, probe_session
from movie_director_plugins.litellm.client import START_HINT, LiteLLMClient, ModelEntry, Readiness


class LiteLLMBackend(Backend[LiteLLMClient]):
    kind = "litellm"
    display_name = "LiteLLM"
    default_url = "http://127.0.0.1:4000"
    default_ports: ClassVar[tuple[int, ...]] = (4000, 8000)
    probe_priority = 10
    start_hint = START_HINT
    # One client serves many threads through its own connection pool.
    pool_max = 4
    pool_min = 1
    health_interval = 60.0

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        base = url.rstrip("/").removesuffix("/v1")
        started = time.perf_counter()
        with probe_session(url, timeout) as session:
            alive = self._probe_json(session, base + "/health/liveliness")
            if not isinstance(alive, str) or "alive" not in alive.lower():
                return None
            ready = self._probe_json(session, base + "/health/readiness")
        if not isinstance(ready, Mapping) or "status" not in ready:
            return None
        return ProbeResult(
            self.kind,
            base,
            version=str(ready.get("litellm_version") or ""),
            latency_ms=(time.perf_counter() - started) * 1000,
            details={"status": ready.get("status"), "db": ready.get("db")},
            transport="http",
        )

    def _probe_json(self, session: Any, url: str) -> Any:
        """The JSON at ``url``, or ``None`` when the answer says "not mine"; raises when unreachable, busy or broken."""
        found = probe_json(session, url, service=self.display_name, start_hint=self.start_hint)
        return found[0] if found is not None else None

    def connect(self, service: ServiceConfig) -> LiteLLMClient:
        return LiteLLMClient(service, label=self.display_name, start_hint=self.start_hint)

    def health(self, connection: LiteLLMClient) -> HealthSample:
        """Readiness plus the model list; raises only when the server cannot be reached."""
        started = time.perf_counter()
        metrics = connection.usage.snapshot().metrics()
        try:
            readiness = self._readiness(connection)
            metrics["models_available"] = float(len(connection.models()))
        except ConnectionProblem:
            raise
        except MovieDirectorError as failure:
            return HealthSample(False, (time.perf_counter() - started) * 1000, metrics=metrics, error=failure.to_dict())
        if readiness.db_connected is not None:
            metrics["db_connected"] = float(readiness.db_connected)
        error = None
        if not readiness.ok:
            problem = f"{self.display_name} is running but not ready (status {readiness.status!r}, database {readiness.db or 'unknown'!r})."
            hints = ["Check the proxy's console window.", "If it uses a database (DATABASE_URL), check that the database is up."]
            error = ServiceError(problem, service=self.display_name, hints=hints).to_dict()
        return HealthSample(readiness.ok, (time.perf_counter() - started) * 1000, metrics=metrics, version=readiness.version, error=error)

    def _readiness(self, connection: LiteLLMClient) -> Readiness:
        return connection.readiness()

    def capabilities(self, connection: LiteLLMClient) -> list[Capability]:
        return [capability_of(entry) for entry in self._model_entries(connection)]

    def _model_entries(self, connection: LiteLLMClient) -> list[ModelEntry]:
        return connection.model_info()

    def is_usable(self, connection: LiteLLMClient) -> bool:
        return not connection.closed


class OpenAICompatibleBackend(LiteLLMBackend):
    """Any server speaking the OpenAI HTTP API without LiteLLM's routes (vLLM, llama.cpp, Ollama…)."""

    kind = "openai"
    display_name = "OpenAI-compatible server"
    default_url = ""  # never configured by default: only when discovered or set up by hand
    default_ports = (8000, 8080, 1234, 11434)
    probe_priority = -10  # generic: asked after every specific probe
    start_hint = "Start the model server with its OpenAI-compatible API (e.g. `vllm serve MODEL`, `llama-server`, `ollama serve`)."

    def probe(self, url: str, timeout: float) -> ProbeResult | None:
        base = url.rstrip("/").removesuffix("/v1")
        started = time.perf_counter()
        with probe_session(url, timeout) as session:
            listing = self._probe_json(session, base + "/v1/models")
        data = listing.get("data") if isinstance(listing, Mapping) else None
        if not isinstance(data, list) or not all(isinstance(entry, Mapping) and "id" in entry for entry in data):
            return None
        return ProbeResult(self.kind, base, latency_ms=(time.perf_counter() - started) * 1000, details={"models": len(data)}, transport="http")

    def _readiness(self, connection: LiteLLMClient) -> Readiness:
        return Readiness(ok=True, status="healthy")  # the model list health() reads is the check

    def _model_entries(self, connection: LiteLLMClient) -> list[ModelEntry]:
        return connection.models()


def capability_of(entry: ModelEntry) -> Capability:
    """``llm.chat`` / ``llm.embeddings`` / ``llm.<mode>`` for one model: the standard limits narrowed by its own, and its prices."""
    name = {"chat": LLM_CHAT, "embedding": "llm.embeddings"}.get(entry.mode, f"llm.{entry.mode}")
    limits = {"max_tokens": (1.0, float(entry.max_output_tokens))} if entry.max_output_tokens else {}
    details = {key: value for key, value in entry.to_dict().items() if key != "id"}
    return standard(name, entry.id, limits, details)
