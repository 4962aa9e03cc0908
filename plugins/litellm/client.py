"""A synchronous client for a LiteLLM proxy or any OpenAI-compatible server.

Built on the project's pooled ``requests`` session (:func:`movie_director.http.build_session`):
explicit timeouts, no system proxy for loopback, and urllib3 ``Retry`` for connect
errors and 429/502/503/504 with backoff and ``Retry-After``. POST is allowed to retry
on those statuses because the server refused the call before doing it; a call whose
answer has started (read errors, a broken stream) is never sent again.

On top of that sits what an LLM proxy needs:

- the bearer key from an environment reference (``MOVIE_DIRECTOR_LITELLM_API_KEY`` or
  the service's ``auth.env``), registered for redaction so it never shows anywhere;
- LiteLLM's own error bodies read by ``type`` (a wrong key without a DB is a 400
  ``no_db_connection``, an unknown model a 400 ``Invalid model name``);
- model fallback: an ordered list of models, the next one tried on a model-specific
  failure (unknown model, 429 after retries, 5xx), and the result says which answered;
- usage and cost of every call recorded in the service's :class:`UsageMeter`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import requests
from urllib3.util.retry import Retry

from movie_director.configdata import AuthRef, ServiceConfig
from movie_director.errors import (
    AuthenticationFailed,
    ConnectionLost,
    MalformedResponse,
    MovieDirectorError,
    NotFound,
    RateLimited,
    RequestRejected,
    ServiceError,
    describe_unexpected,
    map_exception,
    response_error,
    server_message_of,
)
from movie_director.http import DeadlineAdapter, build_session, json_of, retry_policy
from movie_director.sse import iter_events
from movie_director_plugins.litellm.usage import Usage, UsageMeter, meter_for

log = logging.getLogger(__name__)

START_HINT = "Start the proxy: litellm --config config.yaml --host 127.0.0.1 --port 4000"
#: Chat calls are POSTs; the server refusing one with 429/502/503/504 did not run it.
RETRY_METHODS = Retry.DEFAULT_ALLOWED_METHODS | {"POST"}
_UNKNOWN_MODEL = re.compile(r"invalid model|model\b.*\b(not found|does not exist|not available)|no such model|unknown model", re.IGNORECASE)

T = TypeVar("T")
Messages = str | Sequence[Mapping[str, Any]]


def default_key_env(service: ServiceConfig) -> str:
    """The variable read when a service names none.

    ``MOVIE_DIRECTOR_<SERVICE>_API_KEY`` (what the config's environment layer sets), else
    the kind's ``MOVIE_DIRECTOR_LITELLM_API_KEY`` when only that one is set.
    """
    own, of_kind = (f"MOVIE_DIRECTOR_{name.upper().replace('-', '_')}_API_KEY" for name in (service.name, service.kind))
    return of_kind if of_kind in os.environ and own not in os.environ else own


def as_messages(messages: Messages, system: str | None = None) -> list[Mapping[str, Any]]:
    """Chat messages from a list of messages or a plain prompt, with an optional system message first."""
    listed: list[Mapping[str, Any]] = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
    return [{"role": "system", "content": system}, *listed] if system else listed


@dataclass(frozen=True)
class ModelEntry:
    """One model the server offers, with what the proxy tells about it."""

    id: str
    mode: str = "chat"
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    input_usd_per_million_tokens: float | None = None
    output_usd_per_million_tokens: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class Attempt:
    """A model that was tried and failed before another one answered."""

    model: str
    error: MovieDirectorError

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "code": self.error.code, "message": self.error.message}


@dataclass(frozen=True)
class ChatResult:
    """A whole answer: its text, the model that gave it and what it cost."""

    text: str
    model: str
    response_model: str
    usage: Usage
    finish_reason: str | None = None
    failed: tuple[Attempt, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "response_model": self.response_model,
            "finish_reason": self.finish_reason,
            "usage": self.usage.to_dict(),
            "failed": [attempt.to_dict() for attempt in self.failed],
        }


@dataclass(frozen=True)
class Readiness:
    """The proxy's own readiness report; ``db`` is ``"Not connected"`` when it runs without a DB."""

    ok: bool
    status: str
    db: str = ""
    cache: str = ""
    version: str = ""

    @property
    def db_connected(self) -> bool | None:
        """``None`` when no database is configured, else whether it is reachable."""
        if not self.db or self.db.lower() == "not connected":
            return None
        return self.db.lower() == "connected"


class LiteLLMClient:
    """Chat, stream and list models on one service; thread-safe, one pooled session.

    It is also the :class:`~movie_director.backend.Connection` the pool holds.
    """

    def __init__(
        self,
        service: ServiceConfig,
        *,
        label: str = "LiteLLM",
        start_hint: str = START_HINT,
        meter: UsageMeter | None = None,
        pool_size: int = 10,
    ) -> None:
        self.service = service
        self.label = label
        self.start_hint = start_hint
        self.key = service.auth or AuthRef(default_key_env(service))
        self.base_url = service.url.rstrip("/").removesuffix("/v1")
        self.api_url = self.base_url + "/v1"
        self.session = build_session(replace(service, auth=self.key), pool_size, RETRY_METHODS)
        # The health scheduler repeats checks itself; a retried 503 would only make one slow.
        self.session.mount(self.base_url + "/health/", DeadlineAdapter(pool_connections=1, pool_maxsize=2, max_retries=retry_policy(0, 0.0)))
        self.usage = meter or meter_for(service.name)
        self.closed = False
        self._default_model: str | None = None

    # -- chat ------------------------------------------------------------------------

    def chat(self, messages: Messages, model: str | Sequence[str] | None = None, **params: Any) -> ChatResult:
        """One whole answer. ``model`` is a name, a fallback list, or ``None`` for the service's list."""
        return self._answer("/chat/completions", model, lambda name: {**params, "model": name, "messages": as_messages(messages)}, _message_text, "a chat completion")

    def stream_chat(self, messages: Messages, model: str | Sequence[str] | None = None, **params: Any) -> ChatStream:
        """Start an answer and return it as an iterator of text deltas.

        Errors before the first byte (bad key, unknown model, rate limit) raise here,
        after trying the fallback models; errors during the stream raise from the
        iteration, carrying ``details["partial_text"]``.
        """
        params.setdefault("stream_options", {"include_usage": True})

        def attempt(name: str) -> requests.Response:
            body = {**params, "model": name, "messages": as_messages(messages), "stream": True}
            return self._send("POST", "/chat/completions", name, json=body, stream=True)

        response, name, failed = self._with_fallback(model, attempt)
        return ChatStream(response, name, failed, self)

    def completions(self, prompt: str, model: str | Sequence[str] | None = None, **params: Any) -> ChatResult:
        """The legacy ``/v1/completions`` route (LiteLLM offers it; many servers do not)."""
        return self._answer("/completions", model, lambda name: {**params, "model": name, "prompt": prompt}, lambda choice: str(choice.get("text") or ""), "a text completion")

    def _answer(
        self,
        path: str,
        model: str | Sequence[str] | None,
        body_for: Callable[[str], Mapping[str, Any]],
        text_of: Callable[[Mapping[str, Any]], str],
        expected: str,
    ) -> ChatResult:
        """POST a whole-answer request to the first model that answers; record its usage."""

        def attempt(name: str) -> ChatResult:
            response = self._send("POST", path, name, json=body_for(name))
            body = json_of(response, self.label, expected)
            choice = _first_choice(body, self.label)
            usage = Usage.parse(body.get("usage"), response.headers)
            self.usage.record(usage)
            return ChatResult(text_of(choice), name, str(body.get("model") or name), usage, choice.get("finish_reason"), raw=body)

        result, _, failed = self._with_fallback(model, attempt)
        return replace(result, failed=failed) if failed else result

    # -- models ----------------------------------------------------------------------

    def models(self) -> list[ModelEntry]:
        """The models this key may use (``/v1/models``)."""
        body = json_of(self._send("GET", "/models"), self.label, "a model list")
        entries = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(entries, list):
            raise describe_unexpected(body, self.label, "a model list")
        return [
            ModelEntry(str(entry["id"]), str(entry.get("mode") or "chat"), entry.get("max_input_tokens"), entry.get("max_output_tokens"))
            for entry in entries
            if isinstance(entry, Mapping) and entry.get("id")
        ]

    def model_info(self) -> list[ModelEntry]:
        """LiteLLM's richer ``/v1/model/info``: modes, token limits and prices, one entry per model name."""
        body = json_of(self._send("GET", "/model/info"), self.label, "model information")
        entries = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(entries, list):
            raise describe_unexpected(body, self.label, "model information")
        models: dict[str, ModelEntry] = {}
        for entry in entries:
            if not isinstance(entry, Mapping) or not entry.get("model_name"):
                continue
            info = found if isinstance(found := entry.get("model_info"), Mapping) else {}
            models.setdefault(
                str(entry["model_name"]),
                ModelEntry(
                    str(entry["model_name"]),
                    str(info.get("mode") or "chat"),
                    info.get("max_input_tokens"),
                    info.get("max_output_tokens") or info.get("max_tokens"),
                    _per_million(info.get("input_cost_per_token")),
                    _per_million(info.get("output_cost_per_token")),
                ),
            )
        return list(models.values())

    def model_ids(self) -> list[str]:
        return [entry.id for entry in self.models()]

    def default_model(self) -> str:
        """The first chat model of ``/v1/models``, used when the service lists no models."""
        if self._default_model is None:
            chat = [entry.id for entry in self.models() if entry.mode == "chat"]
            if not chat:
                raise NotFound(
                    f"{self.label} offers no chat model.",
                    service=self.label,
                    hints=["Add a chat model to the proxy's config.yaml `model_list` and restart it.", "Check which models your key may use: `movie-director llm models`."],
                )
            self._default_model = chat[0]
        return self._default_model

    def candidate_models(self, model: str | Sequence[str] | None = None) -> list[str]:
        """Models to try, in order: the argument, else the service's ``models``, else the server's first."""
        if isinstance(model, str):
            return [model]
        if model:
            return list(model)
        return list(self.service.models) or [self.default_model()]

    # -- health ----------------------------------------------------------------------

    def readiness(self) -> Readiness:
        """The proxy's readiness (never ``/health``, which calls every model and costs money).

        With a key, the detailed form adds the version and cache; a 503 means the proxy
        runs but its database is unreachable or it is shutting down.
        """
        response = None
        if self.key.is_set:
            with suppress(AuthenticationFailed, NotFound):  # an older proxy, or a key without admin rights
                response = self._send("GET", "/health/readiness/details", accept=(503,), api=False)
        if response is None:
            response = self._send("GET", "/health/readiness", accept=(503,), api=False)
        body = json_of(response, self.label, "a readiness report")
        if not isinstance(body, Mapping) or "status" not in body:
            raise describe_unexpected(body, self.label, "a readiness report")
        cache = body.get("cache")
        return Readiness(
            ok=response.status_code < 400 and body.get("status") == "healthy",
            status=str(body.get("status")),
            db=str(body.get("db") or ""),
            cache=str(cache.get("type") if isinstance(cache, Mapping) else cache or ""),
            version=str(body.get("litellm_version") or response.headers.get("x-litellm-version") or ""),
        )

    # -- plumbing --------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        model: str | None = None,
        *,
        accept: Sequence[int] = (),
        api: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Like :func:`movie_director.http.call`, but reads LiteLLM's error bodies (see :meth:`_error_of`)."""
        url = (self.api_url if api else self.base_url) + path
        try:
            response = self.session.request(method, url, **kwargs)
        except Exception as exc:  # map_exception is the one place that sorts them
            raise map_exception(exc, service=self.label, start_hint=self.start_hint) from exc
        if response.status_code >= 400 and response.status_code not in accept:
            try:
                raise self._error_of(response, model)
            finally:
                response.close()
        return response

    def _error_of(self, response: requests.Response, model: str | None) -> MovieDirectorError:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, Mapping) else None
        error = error if isinstance(error, Mapping) else {}
        status = response.status_code
        if status in (401, 403) or error.get("type") in ("no_db_connection", "auth_error"):
            return self._auth_error(status, str(error.get("type") or ""), server_message_of(response))
        if model and status in (400, 404) and (error.get("code") == "model_not_found" or _UNKNOWN_MODEL.search(server_message_of(response))):
            return self._unknown_model(model, status)
        return response_error(response, service=self.label)

    def _auth_error(self, status: int, error_type: str, server_message: str) -> AuthenticationFailed:
        env = self.key.env
        if not self.key.is_set:
            key_hint = f"No key was sent: set the environment variable {env} to the proxy's master key or a virtual key."
        else:
            key_hint = f"Check that {env} holds the proxy's master key or a valid virtual key."
        if error_type == "no_db_connection":
            message = f"{self.label} refused the API key: it is not the master key, and the proxy has no database to look other keys up in."
            extra = "Virtual keys need the proxy's database (DATABASE_URL); without one only the master key works."
        else:
            message = f"{self.label} refused the API key (HTTP {status})" + (f": {server_message}" if server_message else ".")
            extra = "The key may have expired, run out of budget or lack access to this model: check it in the LiteLLM admin UI."
        hints = [key_hint, extra, "Keep keys in environment variables only, never in the .blend or a config file."]
        return AuthenticationFailed(message, service=self.label, hints=hints, details={"status": status, "key_env": env, "key_set": self.key.is_set})

    def _unknown_model(self, model: str, status: int) -> NotFound:
        try:
            available = self.model_ids()
        except MovieDirectorError:
            available = []
        listed = f" Available: {', '.join(available)}." if available else ""
        return NotFound(
            f"{self.label} has no model named {model!r}.{listed}",
            service=self.label,
            hints=[
                "Pick one of the available models (`movie-director llm models`), or fix the service's `models` list.",
                "To add a model, list it in the proxy's config.yaml `model_list` and restart the proxy.",
            ],
            details={"status": status, "model": model, "available": available},
        )

    def _with_fallback(self, model: str | Sequence[str] | None, attempt: Callable[[str], T]) -> tuple[T, str, tuple[Attempt, ...]]:
        candidates = self.candidate_models(model)
        failed: list[Attempt] = []
        for name in candidates:
            try:
                result = attempt(name)
            except MovieDirectorError as error:
                if not is_model_failure(error):
                    raise
                failed.append(Attempt(name, error))
                log.info("model %s failed on %s (%s)", name, self.label, error.code)
                continue
            if failed:
                log.info("model %s answered on %s after %s failed", name, self.label, ", ".join(a.model for a in failed))
            return result, name, tuple(failed)
        raise _all_failed(failed, self.label)

    def close(self) -> None:
        self.closed = True
        self.session.close()

    def __enter__(self) -> LiteLLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LiteLLMClient {self.label} {self.base_url} key_env={self.key.env}>"


def is_model_failure(error: MovieDirectorError) -> bool:
    """True when another model may succeed: unknown model, rate limited after retries, or a 5xx."""
    if isinstance(error, NotFound):
        return "model" in error.details
    if isinstance(error, RateLimited):
        return True
    return type(error) is ServiceError and int(error.details.get("status", 0)) >= 500


def _all_failed(failed: list[Attempt], label: str) -> MovieDirectorError:
    last = failed[-1].error
    if len(failed) == 1:
        return last
    reasons = "; ".join(f"{attempt.model}: {attempt.error.title.lower()}" for attempt in failed)
    return type(last)(
        f"No model on {label} could answer ({reasons}).",
        service=label,
        hints=[*last.hints, "Add another model to the service's `models` list as a fallback."],
        cause=last,
        details={**last.details, "attempts": [attempt.to_dict() for attempt in failed]},
    )


def _per_million(cost_per_token: Any) -> float | None:
    """Prices per million tokens: readable, and no field name a secret-masking pattern mistakes for a token."""
    return round(float(cost_per_token) * 1_000_000, 6) if isinstance(cost_per_token, (int, float)) else None


def _message_text(choice: Mapping[str, Any]) -> str:
    message = choice.get("message")
    return str(message.get("content") or "") if isinstance(message, Mapping) else ""


def _first_choice(body: Any, label: str) -> Mapping[str, Any]:
    choices = body.get("choices") if isinstance(body, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise describe_unexpected(body, label, "an answer with choices")
    return choices[0]


class ChatStream:
    """The text deltas of one streamed answer, yielded as they arrive.

    Iterate it once. Afterwards ``text``, ``usage``, ``finish_reason`` and
    :meth:`result` describe the whole answer. A cut connection, an error sent
    mid-stream or a stream that ends early raise a typed error whose
    ``details["partial_text"]`` holds the text received so far.
    """

    def __init__(self, response: requests.Response, model: str, failed: tuple[Attempt, ...], client: LiteLLMClient) -> None:
        self.model = model
        self.failed = failed
        self.response_model = model
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self._parts: list[str] = []
        self._done = False
        self._response = response
        self._client = client
        self._deltas = self._generate()

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        """Stop reading early (the connection is then dropped, not reused)."""
        self._deltas.close()
        self._response.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def result(self) -> ChatResult:
        """The finished answer; call after iterating to the end."""
        if not self._done:
            raise RuntimeError("the stream has not been read to its end")
        return ChatResult(self.text, self.model, self.response_model, self.usage or Usage(), self.finish_reason, self.failed)

    def _generate(self) -> Generator[str, None, None]:
        client = self._client
        saw_done = False
        try:
            for event in iter_events(self._response.iter_content(chunk_size=None)):
                if event.data == "[DONE]":
                    saw_done = True  # read on to the end of the body: only then is the connection reused
                elif not saw_done and (delta := self._absorb(event.data)):
                    self._parts.append(delta)
                    yield delta
        except MovieDirectorError:
            raise
        except Exception as exc:  # sorted by map_exception, then given the partial text
            error = map_exception(exc, service=client.label, start_hint=client.start_hint)
            raise self._interrupted(type(error), f"{error.message} The answer from {self.model} stopped after {len(self.text)} characters.", error.hints, exc) from exc
        finally:
            self._response.close()
        if not saw_done and self.finish_reason is None:
            raise self._interrupted(
                ConnectionLost, f"The answer from {self.model} ended before it was complete ({len(self.text)} characters received).", ConnectionLost.default_hints
            )
        self._done = True
        self.usage = self.usage or Usage()
        client.usage.record(self.usage)

    def _absorb(self, data: str) -> str:
        """Take one chunk's usage, model and finish reason; return its text."""
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, Mapping):
            raise self._interrupted(MalformedResponse, f"{self._client.label} sent a stream event that is not a JSON object.", MalformedResponse.default_hints)
        if "error" in chunk:
            raise self._stream_error(chunk["error"])
        if isinstance(chunk.get("usage"), Mapping):
            self.usage = Usage.parse(chunk["usage"])
        self.response_model = str(chunk.get("model") or self.response_model)
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            return ""  # OpenAI's usage chunk and LiteLLM's fallback notice carry no choice
        choice = choices[0]
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        delta = choice.get("delta")
        return str(delta.get("content") or "") if isinstance(delta, Mapping) else ""

    def _stream_error(self, error: Any) -> MovieDirectorError:
        error = error if isinstance(error, Mapping) else {"message": str(error)}
        code = str(error.get("code") or "")
        cls: type[MovieDirectorError] = ServiceError
        if code == "429":
            cls = RateLimited
        elif code in ("401", "403"):
            cls = AuthenticationFailed
        elif code.startswith("4"):
            cls = RequestRejected
        message = f"{self._client.label} stopped the answer from {self.model} with an error: {error.get('message') or 'no reason given'}"
        return self._interrupted(cls, message, cls.default_hints, extra={"code": code, "type": error.get("type")})

    def _interrupted(
        self,
        cls: type[MovieDirectorError],
        message: str,
        hints: Sequence[str],
        cause: BaseException | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> MovieDirectorError:
        details = {"model": self.model, "partial_text": self.text, **(extra or {})}
        return cls(message, service=self._client.label, hints=[*hints, "The text received so far is kept."], cause=cause, details=details)
